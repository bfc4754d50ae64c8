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
import { messageWithoutFile } from '../runMessages';
import type {
  FromInspector,
  InspectLayer,
  InspectorContent,
  InspectReport,
} from '../../core/protocol';
import { BinaryChart } from '../charts/binaryChart';
import { HistogramChart } from '../charts/histogramChart';
import { el } from '../dom';
import { formatPercent, formatShape, formatSignificant } from '../format';
import type { InspectorViewState } from './api';
import { AlphaChart, SeriesChart } from './charts';
import {
  INSPECTOR_COLUMNS,
  INSPECTOR_COLUMN_LABELS,
  SERIES_METRICS,
  alphaSummary,
  binaryViewOf,
  compareRows,
  deadThreshold,
  formatBinary,
  formatSeriesValue,
  isNumericColumn,
  layerCells,
  nextSort,
  seriesTable,
  seriesValues,
  sortLayers,
  summaryItems,
  type SeriesMetric,
} from './model';
import { readPalette, type Palette } from '../theme';

export interface InspectorHost {
  post(msg: FromInspector): void;
  readonly state: InspectorViewState;
  update(patch: Partial<InspectorViewState>): void;
}

const METRIC_LABELS: Record<SeriesMetric, string> = {
  quantizationError: 'Quantization error',
  deadWeightRatio: 'Dead weights',
  signBalance: 'Sign balance (+1)',
  absMean: 'mean |w|',
  starvedWeightRatio: 'Starved weights',
};

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

  /** One clear message naming the file and the problem, with Show Log and Retry. */
  showError(file: string, message: string): void {
    this.reset();
    this.root.setAttribute('aria-busy', 'false');
    const box = el('div', 'error-state');
    box.setAttribute('role', 'alert');
    box.append(el('h2', 'error-title', file ? `Cannot inspect ${basename(file)}` : 'Error'));
    if (file) box.append(el('div', 'error-file', file));
    // Messages usually start with the path the line above already shows.
    box.append(el('p', 'error-message', messageWithoutFile(file, message)));
    const actions = el('div', 'actions');
    actions.append(
      this.button('Show Log', () =>
        this.host.post({ kind: 'inspectorCommand', command: 'showLog' }),
      ),
      this.button('Retry', () => this.host.post({ kind: 'inspectorCommand', command: 'retry' })),
    );
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
    for (const [rowName, row] of this.rowsByName) {
      const on = rowName === name;
      row.classList.toggle('selected', on);
      row.setAttribute('aria-selected', String(on));
      if (on && !notify) row.scrollIntoView({ block: 'nearest' });
    }
    this.renderDetails();
    if (notify) this.host.post({ kind: 'layerSelected', name });
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
    const split = el('div', 'split');
    const tableBox = el('div', 'table-box');
    tableBox.append(this.layerTable(report.layers));
    this.details = el('section', 'details');
    this.details.setAttribute('aria-live', 'polite');
    split.append(tableBox, this.details);
    this.body.append(split);
    const selected = this.host.state.selected;
    const initial = report.layers.some((l) => l.name === selected)
      ? selected
      : (report.layers.find((l) => l.stats && l.binary !== false)?.name ??
        report.layers.find((l) => l.stats)?.name ??
        '');
    this.select(initial, false);
  }

  private layerTable(layers: readonly InspectLayer[]): HTMLTableElement {
    const table = el('table', 'layer-table');
    table.setAttribute('aria-label', 'Weight tensors');
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
        if (this.content) this.showContent(this.content);
      });
      th.append(b);
      headRow.append(th);
    }
    head.append(headRow);
    const tbody = el('tbody');
    for (const index of sortLayers(layers, sort)) {
      const layer = layers[index];
      const tr = el('tr', layer.stats ? 'layer-row' : 'layer-row no-stats');
      tr.tabIndex = 0;
      tr.dataset.name = layer.name;
      layerCells(layer).forEach((text, i) => {
        const column = INSPECTOR_COLUMNS[i];
        const td = el('td', isNumericColumn(column) ? 'num' : column, text);
        if (column === 'binary') td.title = layer.binaryReason;
        if (column === 'name') td.title = layer.name;
        tr.append(td);
      });
      tr.addEventListener('click', () => this.select(layer.name, true));
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          this.select(layer.name, true);
        } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
          e.preventDefault();
          const next = (
            e.key === 'ArrowDown' ? tr.nextElementSibling : tr.previousElementSibling
          ) as HTMLTableRowElement | null;
          if (next?.dataset.name !== undefined) {
            next.focus();
            this.select(next.dataset.name, true);
          }
        }
      });
      this.rowsByName.set(layer.name, tr);
      tbody.append(tr);
    }
    table.append(head, tbody);
    return table;
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
    const total = content.report.layers.length;
    const mean = content.report.layers.reduce((a, l) => a + l.flipRate, 0) / total;
    this.body.append(
      el('p', 'hint', `${total} tensors in both files; mean flip rate ${formatPercent(mean, 2)}.`),
    );
    const table = el('table', 'layer-table compare-table');
    table.setAttribute('aria-label', 'Flip rate per tensor');
    const head = el('tr');
    head.append(el('th', undefined, 'Tensor'), el('th', 'num', 'flipRate'));
    head.lastElementChild?.setAttribute('title', 'Fraction of weights whose sign differs');
    const thead = el('thead');
    thead.append(head);
    const tbody = el('tbody');
    for (const row of rows) {
      const tr = el('tr', 'layer-row');
      tr.dataset.name = row.name;
      tr.append(el('td', 'name', row.name), el('td', 'num', row.flipRate));
      tbody.append(tr);
    }
    table.append(thead, tbody);
    const box = el('div', 'table-box');
    box.append(table);
    this.body.append(box);
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
    const split = el('div', 'split');
    const tableBox = el('div', 'table-box');
    const t = el('table', 'layer-table series-table');
    t.setAttribute('aria-label', 'Flip rate between consecutive checkpoints');
    const thead = el('thead');
    const hr = el('tr');
    hr.append(el('th', undefined, 'Tensor'));
    for (const pair of table.pairs) {
      const th = el('th', 'num', pair);
      th.title = `flipRate ${pair}`;
      hr.append(th);
    }
    const frozenTh = el('th', 'num', 'frozen');
    frozenTh.title = 'frozenRatio: signs that never changed over the series';
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
    split.append(tableBox, this.details);
    this.body.append(split);
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
      const option = el('vscode-option', undefined, METRIC_LABELS[metric]);
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
    const area = this.chartBlock(box, METRIC_LABELS[metric], 'one point per checkpoint');
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
