/** The model summary table: one row per layer, sortable, a click opens a binary layer's card. */
import { el, setText } from '../../shared/dom';
import type { SectionContext } from '../context';
import type { RunModel } from '../state';
import {
  COLUMN_LABELS,
  TABLE_COLUMNS,
  isNumericColumn,
  nextSort,
  rowCells,
  sortRows,
  type LayerRow,
  type TableColumn,
} from '../table';

/** Least time between two redraws of the table while streaming. */
const TABLE_INTERVAL_MS = 1000;

export class ModelTableSection {
  readonly root = el('section', 'section');
  private readonly title = el('h2', 'section-title', 'Model summary');
  private readonly table = el('table', 'overview');
  private readonly head = el('tr');
  private readonly body = el('tbody');
  private rows = new Map<string, HTMLTableRowElement>();
  private rowOrder = '';

  constructor(private readonly ctx: SectionContext) {
    for (const column of TABLE_COLUMNS) {
      const { label, title } = COLUMN_LABELS[column];
      const th = el('th');
      th.dataset.column = column;
      if (isNumericColumn(column)) th.classList.add('num');
      const button = el('button', 'sort-button', label);
      button.type = 'button';
      button.title = `${title} — click to sort`;
      button.addEventListener('click', () => {
        const v = ctx.host.view;
        const next = nextSort(
          v.sortColumn ? { column: v.sortColumn, direction: v.sortDirection } : undefined,
          column,
        );
        ctx.host.updateView({ sortColumn: next.column, sortDirection: next.direction });
      });
      th.append(button);
      this.head.append(th);
    }
    const thead = el('thead');
    thead.append(this.head);
    this.table.append(thead, this.body);
    const wrap = el('div', 'table-wrap');
    wrap.append(this.table);
    this.root.append(this.title, wrap);
    ctx.observeVisibility(this.table);
  }

  render(run: RunModel): void {
    const ctx = this.ctx;
    const view = ctx.host.view;
    if (!ctx.visible(this.table) && this.rows.size === run.allLayers.length) return;
    // While a run streams, figures that change 10 times a second cannot be read anyway: the
    // table (a full relayout of every row) follows at most once a second, unless the user
    // sorted or picked a layer.
    const key = `${run.runId}\n${view.sortColumn}\n${view.sortDirection}\n${view.selectedLayer}\n${run.allLayers.length}`;
    if (run.status === 'running' && !ctx.throttle('table', key, TABLE_INTERVAL_MS)) return;
    const selected = view.selectedLayer;
    const latest = new Map(run.layers.map((l) => [l.info.name, l.latest]));
    const base: LayerRow[] = run.allLayers.map((info, order) => ({
      order,
      info,
      latest: latest.get(info.name),
    }));
    const rows = view.sortColumn ? sortRows(base, view.sortColumn, view.sortDirection) : base;
    setText(
      this.title,
      `Model summary (${run.allLayers.length} layers, ${run.layers.length} binary)`,
    );
    for (const th of Array.from(this.head.cells)) {
      const column = th.dataset.column as TableColumn;
      const sort =
        view.sortColumn === column
          ? view.sortDirection === 'asc'
            ? 'ascending'
            : 'descending'
          : 'none';
      if (th.getAttribute('aria-sort') !== sort) th.setAttribute('aria-sort', sort);
    }
    const order = rows.map((r) => r.info.name).join('\n');
    if (order !== this.rowOrder) {
      this.rowOrder = order;
      const fresh = new Map<string, HTMLTableRowElement>();
      const elements = rows.map((r) => {
        const row = this.rows.get(r.info.name) ?? this.makeRow(r);
        fresh.set(r.info.name, row);
        return row;
      });
      this.rows = fresh;
      this.body.replaceChildren(...elements);
    }
    for (const r of rows) {
      const row = this.rows.get(r.info.name);
      if (!row) continue;
      row.classList.toggle('selected', selected === r.info.name);
      rowCells(r).forEach((text, c) => {
        const cell = row.cells[c];
        if (cell) setText(cell, text);
      });
    }
  }

  private makeRow(r: LayerRow): HTMLTableRowElement {
    const row = el('tr');
    const name = r.info.name;
    row.dataset.layer = name;
    TABLE_COLUMNS.forEach((column) => {
      const cell = el(
        'td',
        column === 'name' ? 'layer-cell' : isNumericColumn(column) ? 'num' : '',
      );
      cell.dataset.column = column;
      row.append(cell);
    });
    if (!r.info.binary) {
      row.classList.add('full-precision');
      row.title = 'Full-precision layer: no binary telemetry';
      return row;
    }
    row.tabIndex = 0;
    row.title = 'Show only this layer (again: all layers)';
    const toggle = (): void => {
      if (this.ctx.host.view.selectedLayer === name)
        this.ctx.host.updateView({ selectedLayer: '' });
      else this.ctx.openLayer(name);
    };
    row.addEventListener('click', toggle);
    row.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        toggle();
      }
    });
    return row;
  }
}
