/**
 * DOM of the checkpoint inspector: a checkpoint (summary, sortable layer table, details of the
 * selected layer), a comparison of two checkpoints, or a folder series. Text goes in through
 * `textContent` only (tensor names come from files), and no markup carries a style attribute.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import type {
  FromInspector,
  InspectLayer,
  InspectorContent,
  InspectReport,
} from '../../core/protocol';
import {
  formatCompact,
  formatInteger,
  formatPercent,
  formatShape,
  formatSignificant,
} from '../../core/format';
import { BinaryChart } from '../charts/binaryChart';
import { HistogramChart } from '../charts/histogramChart';
import { el } from '../shared/dom';
import type { InspectorViewState } from './api';
import { AlphaChart, FlipChart, SeriesChart } from './charts';
import { failurePage } from './failure';
import {
  INSPECTOR_COLUMNS,
  INSPECTOR_COLUMN_LABELS,
  SERIES_METRICS,
  alphaSummary,
  COMPARE_METRIC,
  binaryViewOf,
  compareRows,
  compareSections,
  deadThreshold,
  formatBinary,
  formatSeriesValue,
  isNumericColumn,
  layerCells,
  meanFlipRate,
  nextSort,
  seriesMetricLabel,
  seriesTable,
  seriesValues,
  sortLayers,
  summaryItems,
  type SeriesMetric,
} from './model';
import { isBuffer, layerTree, matchesFilter, type TreeRow } from './tree';
import { METRICS } from '../shared/metricVocabulary';
import { readPalette, type Palette } from '../shared/theme';

export interface InspectorHost {
  post(msg: FromInspector): void;
  readonly state: InspectorViewState;
  update(patch: Partial<InspectorViewState>): void;
}

/** Bounds of the details pane's width (CSS px) while dragging its edge. */
const DETAILS_MIN = 240;
const DETAILS_MAX_SHARE = 0.6;

function basename(path: string): string {
  const parts = path.split(/[\\/]/).filter((p) => p !== '');
  return parts.at(-1) ?? path;
}

export class InspectorView {
  private content: InspectorContent | undefined;
  private palette: Palette = readPalette();
  private readonly body: HTMLElement;
  private rowsByName = new Map<string, HTMLTableRowElement>();
  private details: HTMLElement | undefined;
  private tableBox: HTMLElement | undefined;
  private countLine: HTMLElement | undefined;
  /** Every module group of the current table (for Collapse All). */
  private groupPaths: string[] = [];
  private charts: { resize(): void; setPalette(p: Palette): void; destroy(): void }[] = [];

  constructor(
    private readonly root: HTMLElement,
    private readonly host: InspectorHost,
  ) {
    this.body = el('div', 'inspector');
    root.append(this.body);
    this.showLoading('');
  }

  showLoading(file: string): void {
    this.reset();
    const box = el('div', 'notice', file ? `Reading ${file}…` : 'Loading…');
    box.setAttribute('role', 'status');
    this.body.append(box);
    this.root.setAttribute('aria-busy', 'true');
  }

  /**
   * One clear message naming the file and the problem, with Show Log, and Retry where reading
   * again can help (not for a pickle that asks to run code).
   */
  showError(file: string, message: string): void {
    this.reset();
    this.root.setAttribute('aria-busy', 'false');
    const page = failurePage(file, message);
    const box = el('div', 'error-state');
    box.setAttribute('role', 'alert');
    box.append(el('h2', 'error-title', page.title));
    for (const path of page.paths) box.append(el('div', 'error-file', path));
    box.append(el('p', 'error-message', page.message));
    if (page.advice) box.append(el('p', 'error-advice', page.advice));
    const actions = el('div', 'actions');
    actions.append(
      this.button('Show Log', () =>
        this.host.post({ kind: 'inspectorCommand', command: 'showLog' }),
      ),
    );
    if (page.retry) {
      actions.append(
        this.button('Retry', () => this.host.post({ kind: 'inspectorCommand', command: 'retry' })),
      );
    }
    box.append(actions);
    this.body.append(box);
  }

  showContent(content: InspectorContent): void {
    this.reset();
    this.content = content;
    this.root.setAttribute('aria-busy', 'false');
    switch (content.mode) {
      case 'checkpoint':
        this.renderCheckpoint(content);
        break;
      case 'compare':
        this.renderCompare(content);
        break;
      case 'series':
        this.renderSeries(content);
        break;
    }
    this.resize();
  }

  /** Selects a layer (from the table, or from the host's Layers view when `notify` is false). */
  select(name: string, notify: boolean): void {
    this.host.update({ selected: name });
    this.revealInTable(name);
    for (const [rowName, row] of this.rowsByName) {
      const on = rowName === name;
      row.classList.toggle('selected', on);
      row.setAttribute('aria-selected', String(on));
      // `inline: 'start'` keeps the names in view where the table scrolls sideways (narrow panes).
      if (on && !notify) row.scrollIntoView({ block: 'nearest', inline: 'start' });
    }
    this.renderDetails();
    if (notify) this.host.post({ kind: 'layerSelected', name });
  }

  /**
   * A tensor chosen elsewhere (the Layers view) but not in the table: open its groups, clear a
   * filter that hides it, show buffers if it is one.
   */
  private revealInTable(name: string): void {
    const content = this.content;
    if (!name || content?.mode !== 'checkpoint' || this.rowsByName.has(name)) return;
    if (!content.report.layers.some((l) => l.name === name)) return;
    const state = this.host.state;
    this.host.update({
      collapsed: state.collapsed.filter(
        (path) => !name.startsWith(`${path}.`) && !name.startsWith(`${path}/`),
      ),
      filter: matchesFilter(name, state.filter) ? state.filter : '',
      showBuffers: state.showBuffers || isBuffer(name),
    });
    const filter = this.body.querySelector<HTMLInputElement>('.filter-box');
    if (filter) filter.value = this.host.state.filter;
    const buffers = this.body.querySelector<HTMLInputElement>('.buffer-toggle input');
    if (buffers) buffers.checked = this.host.state.showBuffers;
    this.renderLayerTable(content.report.layers);
  }

  applyTheme(): void {
    this.palette = readPalette();
    for (const chart of this.charts) chart.setPalette(this.palette);
  }

  resize(): void {
    for (const chart of this.charts) chart.resize();
  }

  private reset(): void {
    for (const chart of this.charts) chart.destroy();
    this.charts = [];
    this.rowsByName.clear();
    this.details = undefined;
    this.tableBox = undefined;
    this.countLine = undefined;
    this.content = undefined;
    this.body.replaceChildren();
  }

  /** An action button, from @vscode-elements like the dashboard's (theme colours, focus ring). */
  private button(label: string, onClick: () => void, secondary = false): VscodeButton {
    const b = el('vscode-button', 'action-button', label) as VscodeButton;
    b.secondary = secondary;
    b.addEventListener('click', onClick);
    return b;
  }

  private header(title: string, subtitle: string, badge?: string): HTMLElement {
    const head = el('header', 'inspector-header');
    const h = el('h1', 'inspector-title', title);
    if (badge) h.append(el('span', 'badge', badge));
    head.append(h, el('div', 'inspector-path', subtitle));
    return head;
  }

  // ---- one checkpoint ----------------------------------------------------------------------

  private renderCheckpoint(content: Extract<InspectorContent, { mode: 'checkpoint' }>): void {
    const { report } = content;
    this.body.append(this.header(basename(content.file), content.file, report.format));
    if (isBnnLabCheckpoint(content.file, report)) {
      const actions = el('div', 'actions');
      const button = this.button('Fine-tune with Noisy Supervision…', () =>
        this.host.post({ kind: 'inspectorCommand', command: 'finetune' }),
      );
      button.title =
        'Fine-tune this checkpoint with the LNS mapper into a new run (the checkpoint is not changed)';
      const exportButton = this.button('Export…', () =>
        this.host.post({ kind: 'inspectorCommand', command: 'export' }),
      );
      exportButton.title = 'Export this checkpoint as Keras/Larq .h5, ONNX or safetensors';
      actions.append(button, exportButton);
      this.body.append(actions);
    }
    const summary = el('dl', 'summary');
    for (const item of summaryItems(report.summary)) {
      const cell = el('div', 'summary-item');
      cell.title = item.title;
      cell.append(el('dt', undefined, item.label), el('dd', undefined, item.value));
      summary.append(cell);
    }
    this.body.append(summary);
    if (report.profile) {
      // Which known layout marked the layers (core/checkpoints/profiles.ts).
      const line = el('p', 'hint profile', `Recognised as ${report.profile.name}`);
      line.dataset.profile = report.profile.id;
      line.title = `${report.profile.description} (layout of ${report.profile.source}); patterns in bnnLab.inspect.binaryPatterns mark more tensors binary`;
      line.append(el('span', 'profile-detail', ` · ${report.profile.description}`));
      this.body.append(line);
    }
    const unknown = report.layers.filter((l) => l.binary === null).length;
    if (unknown > 0) {
      this.body.append(
        el(
          'p',
          'hint',
          `${unknown} weight tensor${unknown === 1 ? '' : 's'} not marked binary or full precision by the file: add name patterns to the bnnLab.inspect.binaryPatterns setting to mark them.`,
        ),
      );
    }
    this.body.append(this.layerToolbar(report.layers));
    const tableBox = el('div', 'table-box');
    this.tableBox = tableBox;
    this.renderLayerTable(report.layers);
    this.details = el('section', 'details');
    this.details.setAttribute('aria-live', 'polite');
    this.body.append(this.splitPane(tableBox, this.details));
    const selected = this.host.state.selected;
    const initial = report.layers.some((l) => l.name === selected)
      ? selected
      : (report.layers.find((l) => l.stats && l.binary !== false)?.name ??
        report.layers.find((l) => l.stats)?.name ??
        '');
    this.select(initial, false);
  }

  /**
   * The table and the details pane side by side, with a handle between them that the mouse
   * drags and the arrow keys move; the pane's width is kept in the view state.
   */
  private splitPane(tableBox: HTMLElement, details: HTMLElement): HTMLElement {
    const split = el('div', 'split');
    const handle = el('div', 'split-handle');
    handle.tabIndex = 0;
    handle.setAttribute('role', 'separator');
    handle.setAttribute('aria-orientation', 'vertical');
    handle.setAttribute('aria-label', 'Width of the details pane');
    handle.title = 'Drag (or focus and press ←/→) to resize the details pane';
    const apply = (width: number): number => {
      const max = Math.max(DETAILS_MIN, Math.floor(split.clientWidth * DETAILS_MAX_SHARE));
      const w = Math.round(Math.min(max, Math.max(DETAILS_MIN, width)));
      // CSSOM, not a style attribute: the page's CSP allows the former only.
      split.style.setProperty('--details-width', `${w}px`);
      handle.setAttribute('aria-valuenow', String(w));
      return w;
    };
    const commit = (width: number): void => {
      this.host.update({ detailsWidth: apply(width) });
      this.resize();
    };
    handle.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      handle.setPointerCapture(e.pointerId);
      const startX = e.clientX;
      const startWidth = details.getBoundingClientRect().width;
      const move = (m: PointerEvent): void => {
        apply(startWidth - (m.clientX - startX));
      };
      const up = (u: PointerEvent): void => {
        handle.removeEventListener('pointermove', move);
        handle.removeEventListener('pointerup', up);
        commit(startWidth - (u.clientX - startX));
      };
      handle.addEventListener('pointermove', move);
      handle.addEventListener('pointerup', up);
    });
    handle.addEventListener('keydown', (e) => {
      const stepPx = e.shiftKey ? 80 : 20;
      if (e.key === 'ArrowLeft') commit(this.host.state.detailsWidth + stepPx);
      else if (e.key === 'ArrowRight') commit(this.host.state.detailsWidth - stepPx);
      else return;
      e.preventDefault();
    });
    split.append(tableBox, handle, details);
    // The first layout gives the split its width; until then the stored width stands.
    split.style.setProperty('--details-width', `${this.host.state.detailsWidth}px`);
    handle.setAttribute('aria-valuenow', String(this.host.state.detailsWidth));
    return split;
  }

  /** Filter box, "Group by module", "Show buffers" and the count of what is shown. */
  private layerToolbar(layers: readonly InspectLayer[]): HTMLElement {
    const bar = el('div', 'table-toolbar');
    const filter = el('input', 'filter-box');
    filter.type = 'search';
    filter.placeholder = 'Filter tensors (e.g. layer1 conv)';
    filter.setAttribute('aria-label', 'Filter tensors by name');
    filter.value = this.host.state.filter;
    filter.addEventListener('input', () => {
      this.host.update({ filter: filter.value });
      this.renderLayerTable(layers);
    });
    filter.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && filter.value) {
        e.preventDefault();
        filter.value = '';
        this.host.update({ filter: '' });
        this.renderLayerTable(layers);
      }
    });
    const toggle = (
      cls: string,
      label: string,
      title: string,
      checked: boolean,
      onChange: (on: boolean) => void,
    ): HTMLElement => {
      const wrap = el('label', `toggle ${cls}`);
      wrap.title = title;
      const box = el('input');
      box.type = 'checkbox';
      box.checked = checked;
      box.addEventListener('change', () => onChange(box.checked));
      wrap.append(box, el('span', undefined, label));
      return wrap;
    };
    const group = toggle(
      'group-toggle',
      'Group by module',
      'Nest tensors under their module path (layer1 › layer1.0 › conv1.weight)',
      this.host.state.group,
      (on) => {
        this.host.update({ group: on });
        this.renderLayerTable(layers);
      },
    );
    const buffers = toggle(
      'buffer-toggle',
      'Show buffers',
      'Batch-norm running statistics (running_mean, running_var, moving_*) and num_batches_tracked: state the model keeps, not weights it learns',
      this.host.state.showBuffers,
      (on) => {
        this.host.update({ showBuffers: on });
        this.renderLayerTable(layers);
      },
    );
    const expand = this.button(
      'Expand All',
      () => {
        this.host.update({ collapsed: [] });
        this.renderLayerTable(layers);
      },
      true,
    );
    expand.classList.add('expand-all');
    const collapse = this.button(
      'Collapse All',
      () => {
        this.host.update({ collapsed: this.groupPaths });
        this.renderLayerTable(layers);
      },
      true,
    );
    collapse.classList.add('collapse-all');
    this.countLine = el('span', 'table-count');
    this.countLine.setAttribute('role', 'status');
    bar.append(filter, group, buffers, expand, collapse, this.countLine);
    return bar;
  }

  /** (Re)draws the layer table from the report, the sort, the filter and the toggles. */
  private renderLayerTable(layers: readonly InspectLayer[]): void {
    const box = this.tableBox;
    if (!box) return;
    const state = this.host.state;
    const tree = layerTree(layers, {
      order: sortLayers(layers, state.sort),
      filter: state.filter,
      showBuffers: state.showBuffers,
      group: state.group,
      collapsed: new Set(state.collapsed),
    });
    this.groupPaths = tree.groups;
    if (this.countLine) {
      const parts = [`${formatInteger(tree.shown)} of ${formatInteger(layers.length)} tensors`];
      if (tree.hiddenBuffers > 0) {
        parts.push(
          `${formatInteger(tree.hiddenBuffers)} buffer${tree.hiddenBuffers === 1 ? '' : 's'} hidden`,
        );
      }
      this.countLine.textContent = parts.join(' · ');
    }
    this.rowsByName.clear();
    box.replaceChildren(this.layerTable(layers, tree.rows));
    if (tree.shown === 0) {
      box.append(
        el(
          'p',
          'hint empty-filter',
          state.filter ? `No tensor matches “${state.filter}”.` : 'No tensors to show.',
        ),
      );
    }
    const selected = this.rowsByName.get(state.selected);
    if (selected) {
      selected.classList.add('selected');
      selected.setAttribute('aria-selected', 'true');
    }
  }

  private layerTable(layers: readonly InspectLayer[], rows: readonly TreeRow[]): HTMLTableElement {
    const table = el('table', 'layer-table');
    table.setAttribute('aria-label', 'Weight tensors');
    const colgroup = el('colgroup');
    for (const column of INSPECTOR_COLUMNS) colgroup.append(el('col', `col-${column}`));
    const head = el('thead');
    const headRow = el('tr');
    const sort = this.host.state.sort;
    for (const column of INSPECTOR_COLUMNS) {
      const th = el('th', isNumericColumn(column) ? 'num' : undefined);
      th.title = INSPECTOR_COLUMN_LABELS[column].title;
      th.dataset.column = column;
      const sorted = sort?.column === column;
      th.setAttribute(
        'aria-sort',
        sorted ? (sort.direction === 'asc' ? 'ascending' : 'descending') : 'none',
      );
      const b = el(
        'button',
        'sort-button',
        `${INSPECTOR_COLUMN_LABELS[column].label}${sorted ? (sort.direction === 'asc' ? ' ▲' : ' ▼') : ''}`,
      );
      b.type = 'button';
      b.addEventListener('click', () => {
        this.host.update({ sort: nextSort(this.host.state.sort, column) });
        this.renderLayerTable(layers);
      });
      th.append(b);
      headRow.append(th);
    }
    head.append(headRow);
    const tbody = el('tbody');
    for (const row of rows) {
      tbody.append(row.kind === 'group' ? this.groupRow(layers, row) : this.tensorRow(layers, row));
    }
    table.append(colgroup, head, tbody);
    return table;
  }

  /** A module's row: a disclosure toggle, its name and tensor count, its params and binary count. */
  private groupRow(
    layers: readonly InspectLayer[],
    row: Extract<TreeRow, { kind: 'group' }>,
  ): HTMLTableRowElement {
    const tr = el('tr', 'group-row');
    tr.tabIndex = 0;
    tr.dataset.group = row.path;
    setDepth(tr, row.depth);
    tr.setAttribute('aria-expanded', String(!row.collapsed));
    const toggle = (): void => {
      const collapsed = new Set(this.host.state.collapsed);
      if (collapsed.has(row.path)) collapsed.delete(row.path);
      else collapsed.add(row.path);
      this.host.update({ collapsed: [...collapsed] });
      this.renderLayerTable(layers);
      this.tableBox
        ?.querySelector<HTMLElement>(`tr[data-group="${CSS.escape(row.path)}"]`)
        ?.focus();
    };
    for (const column of INSPECTOR_COLUMNS) {
      const td = el('td', isNumericColumn(column) ? 'num' : column);
      if (column === 'name') {
        td.title = `${row.path}: ${row.tensors} tensors`;
        td.append(
          el('span', 'twisty', row.collapsed ? '▸' : '▾'),
          el('span', 'tree-label', row.label),
          el('span', 'group-count', ` (${row.tensors})`),
        );
      } else if (column === 'params') {
        td.textContent = row.params >= 1e5 ? formatCompact(row.params) : formatInteger(row.params);
      } else if (column === 'binary') {
        td.textContent = row.binary > 0 ? `${row.binary}/${row.tensors}` : '';
        td.title = `${row.binary} of ${row.tensors} tensors binary`;
      }
      tr.append(td);
    }
    tr.addEventListener('click', toggle);
    tr.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        toggle();
      } else if (
        (e.key === 'ArrowLeft' && !row.collapsed) ||
        (e.key === 'ArrowRight' && row.collapsed)
      ) {
        e.preventDefault();
        toggle();
      } else moveFocus(tr, e);
    });
    return tr;
  }

  private tensorRow(
    layers: readonly InspectLayer[],
    row: Extract<TreeRow, { kind: 'tensor' }>,
  ): HTMLTableRowElement {
    const layer = layers[row.index];
    const tr = el('tr', layer.stats ? 'layer-row' : 'layer-row no-stats');
    tr.tabIndex = 0;
    tr.dataset.name = layer.name;
    setDepth(tr, row.depth);
    layerCells(layer).forEach((text, i) => {
      const column = INSPECTOR_COLUMNS[i];
      const td = el('td', isNumericColumn(column) ? 'num' : column);
      if (column === 'name') {
        td.append(el('span', 'tree-label', row.label));
        td.title = layer.name;
      } else {
        td.textContent = text;
      }
      if (column === 'binary') td.title = layer.binaryReason;
      if (column === 'shape') td.title = `${text} · ${layer.dtype}`;
      tr.append(td);
    });
    tr.addEventListener('click', () => this.select(layer.name, true));
    tr.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.select(layer.name, true);
      } else {
        const next = moveFocus(tr, e);
        if (next?.dataset.name !== undefined) this.select(next.dataset.name, true);
      }
    });
    this.rowsByName.set(layer.name, tr);
    return tr;
  }

  private renderDetails(): void {
    const box = this.details;
    const content = this.content;
    if (!box || !content) return;
    for (const chart of this.charts) chart.destroy();
    this.charts = [];
    box.replaceChildren();
    if (content.mode === 'series') {
      this.renderSeriesDetails(box, content);
      return;
    }
    if (content.mode !== 'checkpoint') return;
    const layer = content.report.layers.find((l) => l.name === this.host.state.selected);
    if (!layer) {
      box.append(el('p', 'hint', 'Select a tensor to see its histogram, binary view and α.'));
      return;
    }
    box.append(el('h2', 'details-title', layer.name));
    box.append(
      el(
        'div',
        'details-meta',
        `${formatShape(layer.shape)} · ${layer.dtype} · binary: ${formatBinary(layer.binary)}`,
      ),
      el('div', 'details-reason', layer.binaryReason),
    );
    const stats = layer.stats;
    if (!stats) {
      box.append(el('p', 'hint', 'No statistics: only float weights of rank 2 or 4 are analysed.'));
      return;
    }
    const threshold = deadThreshold(stats, content.deadTau);
    const hist = this.chartBlock(
      box,
      'Latent weights',
      `64 bins over [${formatSignificant(stats.min, 3)}, ${formatSignificant(stats.max, 3)}]; dashed: ±Q(τ=${content.deadTau}) = ±${formatSignificant(threshold, 3)}`,
    );
    const hover = el('div', 'hover-text');
    const histogram = new HistogramChart(
      hist,
      this.palette,
      120,
      `Histogram of ${layer.name}`,
      (t) => {
        hover.textContent = t ?? '';
      },
    );
    histogram.setData(stats.histogram, threshold);
    hist.append(hover);
    this.track(histogram, hist);

    const binaryView = binaryViewOf(layer);
    const bin = this.chartBlock(box, 'Binary weights (±α per channel)', '');
    const binary = new BinaryChart(bin, this.palette, 80, `Binary view of ${layer.name}`);
    binary.setData(binaryView);
    const caption = bin.previousElementSibling;
    if (caption) caption.textContent = binary.describe();
    this.track(binary, bin);

    const alphaBox = this.chartBlock(box, 'α per output channel', alphaSummary(stats.alpha));
    const alpha = new AlphaChart(alphaBox, this.palette, 90);
    alpha.setData(stats.alpha);
    this.track(alpha, alphaBox);

    const list = el('dl', 'stats');
    const rows: [string, string, string][] = [
      ['params', stats.params.toLocaleString('en-US'), 'Elements'],
      ['mean', formatSignificant(stats.mean, 4), 'Mean of W'],
      ['std', formatSignificant(stats.std, 4), 'Population standard deviation'],
      ['min / max', `${formatSignificant(stats.min, 4)} / ${formatSignificant(stats.max, 4)}`, ''],
      ['absMean', formatSignificant(stats.absMean, 4), 'mean |W|'],
      ['quantizationError', formatPercent(stats.quantizationError, 2), 'Σ(W − α·B)² / ΣW²'],
      ['deadWeightRatio', formatPercent(stats.deadWeightRatio, 2), '|W| > Q(τ)'],
      ['starvedWeightRatio', formatPercent(stats.starvedWeightRatio, 2), '|W| ≥ t_clip'],
      ['signBalance', formatPercent(stats.signBalance, 2), 'Fraction of +1'],
      ['signEntropyBits', formatSignificant(stats.signEntropyBits, 4), 'bits'],
    ];
    for (const [label, value, title] of rows) {
      const item = el('div', 'stat');
      item.title = title;
      item.append(el('dt', undefined, label), el('dd', undefined, value));
      list.append(item);
    }
    box.append(list);
  }

  private chartBlock(parent: HTMLElement, title: string, caption: string): HTMLElement {
    const block = el('div', 'chart-block');
    block.append(el('h3', undefined, title), el('div', 'caption', caption));
    const area = el('div', 'chart-area');
    block.append(area);
    parent.append(block);
    return area;
  }

  private track(
    chart: { setWidth(w: number): void; setPalette(p: Palette): void; destroy(): void },
    area: HTMLElement,
  ): void {
    const entry = {
      resize: () => chart.setWidth(area.clientWidth || 300),
      setPalette: (p: Palette) => chart.setPalette(p),
      destroy: () => chart.destroy(),
    };
    this.charts.push(entry);
    entry.resize();
  }

  // ---- two checkpoints ---------------------------------------------------------------------

  private renderCompare(content: Extract<InspectorContent, { mode: 'compare' }>): void {
    this.body.append(
      this.header(
        `${basename(content.fileA)} → ${basename(content.fileB)}`,
        `${content.fileA}\n${content.fileB}`,
        'compare',
      ),
    );
    const rows = compareRows(content.report);
    if (rows.length === 0) {
      this.body.append(
        el('p', 'hint', 'The two files hold no weight tensor under the same name and shape.'),
      );
      return;
    }
    const sections = compareSections(content.report);
    const summary = sections
      .map((section) => {
        const mean = meanFlipRate(section.rows);
        return `${section.title.toLowerCase()}: ${section.rows.length}, ${formatPercent(mean, 2)} of signs flipped on average`;
      })
      .join('; ');
    this.body.append(
      el(
        'p',
        'hint compare-summary',
        `${rows.length} tensors in both files (${summary}). Click a row to open the tensor in both files.`,
      ),
    );
    const chartBox = el('div', 'chart-block compare-chart');
    chartBox.append(
      el('h3', undefined, `${COMPARE_METRIC.label} per tensor`),
      el(
        'div',
        'caption',
        'One bar per tensor in file order; blue: binary, grey: full precision or not marked',
      ),
    );
    const area = el('div', 'chart-area');
    chartBox.append(area);
    this.body.append(chartBox);
    const chart = new FlipChart(area, this.palette, 110);
    chart.setData(
      content.report.layers.map((l) => ({ flipRate: l.flipRate, binary: l.binary ?? null })),
      (v) => formatPercent(v, 1),
    );
    this.track(chart, area);
    for (const section of sections) {
      const block = el('section', `compare-section compare-${section.id}`);
      block.append(el('h2', 'section-title', `${section.title} (${section.rows.length})`));
      const table = el('table', 'layer-table compare-table');
      table.setAttribute('aria-label', `${COMPARE_METRIC.label}: ${section.title}`);
      const head = el('tr');
      const th = (text: string, cls: string | undefined, title: string): HTMLElement => {
        const cell = el('th', cls, text);
        cell.title = title;
        return cell;
      };
      head.append(
        th('Tensor', undefined, 'Weight tensor name in both files'),
        th(
          INSPECTOR_COLUMN_LABELS.binary.label,
          'binary',
          'Binarized in the forward pass, as the inspector marks it in the first file',
        ),
        th(COMPARE_METRIC.label, 'num', COMPARE_METRIC.title),
      );
      const thead = el('thead');
      thead.append(head);
      const tbody = el('tbody');
      for (const row of section.rows) {
        const tr = el('tr', 'layer-row');
        tr.tabIndex = 0;
        tr.dataset.name = row.name;
        tr.title = `Open ${row.name} in both files`;
        tr.append(
          el('td', 'name', row.name),
          el('td', 'binary', formatBinary(row.binary)),
          el('td', 'num', row.text),
        );
        const open = (): void => this.select(row.name, true);
        tr.addEventListener('click', open);
        tr.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            open();
          } else moveFocus(tr, e);
        });
        this.rowsByName.set(row.name, tr);
        tbody.append(tr);
      }
      table.append(thead, tbody);
      const box = el('div', 'table-box');
      box.append(table);
      block.append(box);
      this.body.append(block);
    }
  }

  // ---- a folder ----------------------------------------------------------------------------

  private renderSeries(content: Extract<InspectorContent, { mode: 'series' }>): void {
    const { report } = content;
    const head = this.header(
      basename(content.folder),
      `${content.folder} · ${report.checkpoints.length} checkpoint${report.checkpoints.length === 1 ? '' : 's'}`,
      content.watching ? 'watching' : 'series',
    );
    const actions = el('div', 'actions');
    actions.append(
      this.button(
        content.watching ? 'Stop Watching' : 'Watch Folder',
        () => this.host.post({ kind: 'inspectorCommand', command: 'toggleWatch' }),
        true,
      ),
      this.button(
        'Refresh',
        () => this.host.post({ kind: 'inspectorCommand', command: 'retry' }),
        true,
      ),
    );
    head.append(actions);
    this.body.append(head);
    const checkpoints = el('p', 'hint', report.checkpoints.map((c) => c.name).join(' → '));
    this.body.append(checkpoints);
    const table = seriesTable(report);
    this.body.append(
      el(
        'h2',
        'section-title series-metric',
        `${COMPARE_METRIC.label} between consecutive checkpoints, and ${METRICS.frozenRatio.label.toLowerCase()} over the series`,
      ),
    );
    const tableBox = el('div', 'table-box');
    const t = el('table', 'layer-table series-table');
    t.setAttribute('aria-label', `${COMPARE_METRIC.label} between consecutive checkpoints`);
    const thead = el('thead');
    const hr = el('tr');
    hr.append(el('th', undefined, 'Tensor'));
    for (const pair of table.pairs) {
      const th = el('th', 'num', pair);
      th.title = `${COMPARE_METRIC.label} from ${pair.replace(' → ', ' to ')}: ${COMPARE_METRIC.title.toLowerCase()}`;
      hr.append(th);
    }
    const frozenTh = el('th', 'num', 'frozen');
    frozenTh.title = `${METRICS.frozenRatio.label}: signs that never changed over the series`;
    hr.append(frozenTh);
    thead.append(hr);
    const tbody = el('tbody');
    for (const row of table.rows) {
      const tr = el('tr', 'layer-row');
      tr.tabIndex = 0;
      tr.dataset.name = row.name;
      const name = el('td', 'name', row.name);
      name.title = row.name;
      tr.append(name);
      for (const f of row.flips) tr.append(el('td', 'num', f));
      tr.append(el('td', 'num', row.frozen));
      tr.addEventListener('click', () => this.select(row.name, true));
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          this.select(row.name, true);
        }
      });
      this.rowsByName.set(row.name, tr);
      tbody.append(tr);
    }
    t.append(thead, tbody);
    tableBox.append(t);
    this.details = el('section', 'details');
    this.body.append(this.splitPane(tableBox, this.details));
    const selected = this.host.state.selected;
    this.select(
      table.rows.some((r) => r.name === selected) ? selected : (table.rows[0]?.name ?? ''),
      false,
    );
  }

  private renderSeriesDetails(
    box: HTMLElement,
    content: Extract<InspectorContent, { mode: 'series' }>,
  ): void {
    const name = this.host.state.selected;
    if (!name) {
      box.append(el('p', 'hint', 'Select a tensor to see its metrics over the checkpoints.'));
      return;
    }
    box.append(el('h2', 'details-title', name));
    const picker = el('vscode-single-select', 'metric-select') as VscodeSingleSelect;
    picker.setAttribute('aria-label', 'Metric');
    for (const metric of SERIES_METRICS) {
      const option = el('vscode-option', undefined, seriesMetricLabel(metric));
      option.value = metric;
      option.selected = metric === this.host.state.seriesMetric;
      picker.append(option);
    }
    picker.value = this.host.state.seriesMetric;
    picker.addEventListener('change', () => {
      this.host.update({ seriesMetric: picker.value as SeriesMetric });
      this.renderDetails();
    });
    box.append(picker);
    const metric = this.host.state.seriesMetric;
    const values = seriesValues(content.report, name, metric);
    const labels = content.report.checkpoints.map((c) => c.name);
    const area = this.chartBlock(
      box,
      seriesMetricLabel(metric),
      `${seriesMetricLabel(metric)} of ${name}, one point per checkpoint`,
    );
    const chart = new SeriesChart(area, this.palette, 140);
    chart.setData(values, labels, (v) => formatSeriesValue(metric, v));
    this.track(chart, area);
    const list = el('dl', 'stats');
    values.forEach((v, i) => {
      const item = el('div', 'stat');
      item.append(
        el('dt', undefined, labels[i]),
        el('dd', undefined, formatSeriesValue(metric, v)),
      );
      list.append(item);
    });
    box.append(list);
  }
}

/** A BNN Lab checkpoint (model.json with `bnnLab` metadata): the ones a fine-tune can start from. */
function isBnnLabCheckpoint(file: string, report: InspectReport): boolean {
  return (
    report.format === 'tfjs' &&
    basename(file) === 'model.json' &&
    report.layers.some((l) => l.binary === true && l.binaryReason.includes('bnnLab'))
  );
}

/** Up/Down moves the focus between table rows; returns the row focused, if any. */
function moveFocus(tr: HTMLTableRowElement, e: KeyboardEvent): HTMLTableRowElement | undefined {
  if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return undefined;
  e.preventDefault();
  const next = (
    e.key === 'ArrowDown' ? tr.nextElementSibling : tr.previousElementSibling
  ) as HTMLTableRowElement | null;
  next?.focus();
  return next ?? undefined;
}

/** A table row's nesting level, capped at 8: `data-depth` and the `--depth` its indent uses. */
function setDepth(tr: HTMLTableRowElement, depth: number): void {
  const level = String(Math.min(depth, 8));
  tr.dataset.depth = level;
  tr.style.setProperty('--depth', level);
}
