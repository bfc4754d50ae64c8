/**
 * DOM for the dashboard: builds the page once, then updates text and charts from the model.
 * All text goes through `textContent` (layer names come from user models, never from markup),
 * and no element gets a `style` attribute in markup: sizes are set through the CSSOM.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-radio/index.js';
import '@vscode-elements/elements/dist/vscode-radio-group/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import type { VscodeCheckbox } from '@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox.js';
import type { VscodeRadio } from '@vscode-elements/elements/dist/vscode-radio/vscode-radio.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import type { ToHost } from '../core/protocol';
import { exportButtons, uplotExport, type ChartExport } from './chartExport';
import { alignGroups, decimate, type ColumnGroup } from './charts/align';
import { LineChart, type LineSeriesSpec } from './charts/lineChart';
import { MultiplesChart } from './charts/multiplesChart';
import { el, setText } from './dom';
import { renderFinetuneSummary } from './finetuneSummary';
import { exportFileName, runCsv } from './export';
import {
  MISSING,
  formatCompact,
  formatDuration,
  formatInteger,
  formatLoss,
  formatPercent,
  formatSignificant,
} from './format';
import { LayerCard } from './layerCard';
import { cancelledText } from './runMessages';
import { troubleLayers } from './troubleLayers';
import { METRICS, axisTitle, formatMetric, metricSpec } from './metricVocabulary';
import {
  FINETUNE_CHANNELS,
  LAYER_CHANNELS,
  latestTestAccuracy,
  progressOf,
  skippedNotice,
  type DashboardModel,
  type EpochPoint,
  type LayerChannel,
  type RunModel,
} from './state';
import {
  COLUMN_LABELS,
  TABLE_COLUMNS,
  isNumericColumn,
  nextSort,
  rowCells,
  sortRows,
  type LayerRow,
  type TableColumn,
} from './table';
import { readPalette, type Palette } from './theme';
import type { ViewState } from './vscodeApi';

const TRAINING_CHART_HEIGHT = 170;
const SMALL_CHART_HEIGHT = 130;
const MULTIPLES_HEIGHT = 150;
const SYNC_KEY = 'bnnLab.steps';
/** Least time between two redraws of the small multiples and of the table while streaming. */
const MULTIPLES_INTERVAL_MS = 500;
const TABLE_INTERVAL_MS = 1000;

type Command = Extract<ToHost, { kind: 'command' }>['command'];

/** What the view needs from the outside world. */
export interface DashboardHost {
  post(msg: ToHost): void;
  readonly view: ViewState;
  updateView(patch: Partial<ViewState>): void;
}

/** A labelled figure in the stats strip; `data-value` holds the raw number for tests. */
class StatTile {
  readonly root = el('div', 'stat');
  private readonly value = el('div', 'stat-value', MISSING);
  private readonly sub = el('div', 'stat-sub', '');

  constructor(metric: string, label: string, tooltip: string) {
    this.root.dataset.metric = metric;
    this.root.title = tooltip;
    this.root.append(el('div', 'stat-label', label), this.value, this.sub);
  }

  set(value: number | undefined, text: string, sub = ''): void {
    setText(this.value, text);
    setText(this.sub, sub);
    // The sub-line is ellipsized in narrow panels; the tooltip keeps it readable.
    this.sub.title = sub;
    this.root.dataset.value = value === undefined ? '' : String(value);
  }
}

/** The vocabulary entry of a method scalar key (`tau`, `loss:<name>`). */
function scalarSpec(key: string) {
  return metricSpec(key.startsWith('loss:') ? key.slice(5) : key);
}

/** Human name of a method scalar key (`tau`, `loss:<name>`). */
function scalarLabel(key: string): string {
  return scalarSpec(key).short;
}

/** The whole panel. `render` is cheap when nothing changed; call it once per frame at most. */
export class Dashboard {
  private palette: Palette = readPalette();
  private readonly title = el('h1', 'run-title', 'BNN Lab');
  private readonly runId = el('span', 'run-id');
  private readonly badge = el('span', 'status-badge');
  private readonly csvButton = el('vscode-button') as VscodeButton;
  private readonly actionButton = el('vscode-button') as VscodeButton;
  private readonly progress = el('div', 'progress');
  private readonly progressFill = el('div', 'progress-fill');
  private readonly progressText = el('div', 'progress-text');
  private readonly banner = el('div', 'banner');
  private readonly bannerText = el('span', 'banner-text');
  private readonly showLog = el('a', 'banner-link', 'Show Log');
  private readonly notice = el('div', 'banner notice');
  private readonly noticeText = el('span', 'banner-text');
  private readonly compareBar = el('div', 'compare-bar');
  private readonly compareText = el('span', 'compare-text');
  private readonly compareClear = el('vscode-button') as VscodeButton;
  private readonly empty = el('section', 'empty-state');
  private readonly emptyTitle = el('h2', 'empty-title');
  private readonly emptyText = el('p', 'empty-text');
  private readonly emptyButton = el('vscode-button') as VscodeButton;
  private readonly runView = el('main', 'run-view');
  private readonly tiles = {
    loss: new StatTile('loss', 'Loss', 'Training loss, mean over the steps since the last report'),
    trainAccuracy: new StatTile(
      'trainAccuracy',
      'Train acc.',
      'Training accuracy, mean over the steps since the last report',
    ),
    testAccuracy: new StatTile(
      'testAccuracy',
      'Test acc.',
      'Accuracy on the test set after the latest epoch',
    ),
    learningRate: new StatTile('learningRate', 'Learning rate', 'Current optimizer learning rate'),
    throughput: new StatTile('throughput', 'Throughput', 'Training examples per second'),
    elapsed: new StatTile('elapsed', 'Elapsed', 'Wall-clock time since the run started'),
  };
  private readonly lossHost = el('div', 'chart-host');
  private readonly accuracyHost = el('div', 'chart-host');
  private readonly learningRateHost = el('div', 'chart-host');
  private readonly methodHost = el('div', 'chart-host');
  private readonly methodNote = el('p', 'chart-note');
  /** The layers most in trouble (dead, frozen, not flipping); each opens its card. */
  private readonly watch = el('div', 'watch-list');
  private watchKey = '';
  private readonly methodFigure: HTMLElement;
  private lossChart: LineChart | undefined;
  private accuracyChart: LineChart | undefined;
  private learningRateChart: LineChart | undefined;
  private methodChart: LineChart | undefined;
  private methodKey = '';
  private compareKey = '';
  private readonly multiplesHosts = new Map<LayerChannel, HTMLElement>();
  private readonly multiplesFigures = new Map<LayerChannel, HTMLElement>();
  private readonly finetuneSection = el('section', 'section finetune-summary');
  private finetuneKey = '';
  private multiples = new Map<LayerChannel, MultiplesChart>();
  private multiplesKey = '';
  private readonly multiplesSection = el('section', 'section');
  private readonly logToggle = el('vscode-checkbox') as VscodeCheckbox;
  private readonly layersTitle = el('h2', 'section-title', 'Binary layers');
  private readonly layerSelect = el('vscode-single-select') as VscodeSingleSelect;
  private readonly modeRadios = new Map<string, VscodeRadio>();
  private readonly overview = el('table', 'overview');
  private readonly overviewHead = el('tr');
  private readonly overviewBody = el('tbody');
  private readonly tableTitle = el('h2', 'section-title', 'Model summary');
  private readonly layersEmpty = el(
    'p',
    'layers-empty',
    'Per-layer telemetry (histograms, quantization error, dead weights, flips) appears with the first report.',
  );
  private readonly layerGrid = el('div', 'layer-grid');
  private cards = new Map<string, LayerCard>();
  private rows = new Map<string, HTMLTableRowElement>();
  /** Per throttled part: what it last drew for, when, and a pending catch-up render. */
  private readonly throttles = new Map<
    string,
    { key: string; time: number; timer: number | undefined }
  >();
  private rowOrder = '';
  private layerKey = '';
  private rendered = new WeakMap<object, unknown>();
  /** Run, status and layer cards last reported to the host (`rendered`). */
  private renderedKey = '';
  private readonly resizeObserver: ResizeObserver;
  private readonly visibility: IntersectionObserver;
  /** Charts and the table off screen are not redrawn; they catch up when scrolled back. */
  private readonly sectionVisibility: IntersectionObserver;
  private readonly offScreen = new WeakSet<Element>();
  private readonly tableSection = el('section', 'section');
  private resizePending = false;
  private model: DashboardModel | undefined;

  constructor(
    private readonly root: HTMLElement,
    private readonly host: DashboardHost,
  ) {
    this.resizeObserver = new ResizeObserver(() => this.scheduleResize());
    // Layer cards off screen skip drawing; they catch up when scrolled into view.
    this.visibility = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          const name = (entry.target as HTMLElement).dataset.layer;
          const card = name === undefined ? undefined : this.cards.get(name);
          card?.setOnScreen(entry.isIntersecting);
        }
      },
      { rootMargin: '200px 0px' },
    );
    this.sectionVisibility = new IntersectionObserver(
      (entries) => {
        let shown = false;
        for (const entry of entries) {
          if (entry.isIntersecting) {
            shown ||= this.offScreen.has(entry.target);
            this.offScreen.delete(entry.target);
          } else {
            this.offScreen.add(entry.target);
          }
        }
        if (shown && this.model) this.render(this.model);
      },
      { rootMargin: '100px 0px' },
    );
    this.methodFigure = this.chartFigure(
      'Method scalars',
      "The method's own scalars over steps: ReCU's τ, BONN's or LNS's extra loss terms",
      this.methodHost,
      () => this.methodChart && this.lineExport('Method scalars', this.methodChart),
    );
    this.methodFigure.append(this.methodNote);
    this.build();
  }

  private get runIdText(): string {
    return this.model?.run?.runId ?? 'bnn-lab';
  }

  private post(command: Command): void {
    this.host.post({ kind: 'command', command });
  }

  private build(): void {
    const header = el('header', 'toolbar');
    const titleBlock = el('div', 'title-block');
    titleBlock.append(this.title, this.runId);
    this.badge.hidden = true;
    this.actionButton.addEventListener('click', () => {
      const running = this.model?.run?.status === 'running';
      this.post(running ? 'stop' : 'train');
    });
    this.csvButton.textContent = 'Export CSV';
    this.csvButton.secondary = true;
    this.csvButton.className = 'csv-button';
    this.csvButton.title = "Save the run's metrics (one row per report, a column per layer metric)";
    this.csvButton.addEventListener('click', () => this.exportCsv());
    this.actionButton.className = 'action-button';
    header.append(titleBlock, this.badge, el('span', 'spacer'), this.csvButton, this.actionButton);

    const track = el('div', 'progress-track');
    track.append(this.progressFill);
    this.progress.append(track, this.progressText);

    this.showLog.href = '#';
    this.showLog.addEventListener('click', (e) => {
      e.preventDefault();
      this.post('showLog');
    });
    this.banner.setAttribute('role', 'status');
    this.banner.append(this.bannerText, this.showLog);
    this.notice.setAttribute('role', 'status');
    this.notice.dataset.kind = 'warning';
    this.notice.append(this.noticeText);

    this.compareClear.textContent = 'Stop comparing';
    this.compareClear.secondary = true;
    this.compareClear.addEventListener('click', () => this.host.post({ kind: 'clearComparison' }));
    this.compareBar.append(this.compareText, el('span', 'spacer'), this.compareClear);
    this.compareBar.hidden = true;

    this.emptyButton.textContent = 'Train BNN';
    this.emptyButton.addEventListener('click', () => this.post('train'));
    this.empty.append(this.emptyTitle, this.emptyText, this.emptyButton);

    const stats = el('div', 'stats');
    for (const tile of Object.values(this.tiles)) stats.append(tile.root);

    const training = el('section', 'section');
    const trainingGrid = el('div', 'chart-grid');
    trainingGrid.append(
      this.chartFigure(
        'Loss',
        'Cross-entropy; line: per report, dots: test set per epoch',
        this.lossHost,
        () => this.lossChart && this.lineExport('Loss', this.lossChart),
      ),
      this.chartFigure(
        axisTitle(METRICS.accuracy),
        'Line: training accuracy per report; dots: test accuracy per epoch',
        this.accuracyHost,
        () => this.accuracyChart && this.lineExport('Accuracy', this.accuracyChart),
      ),
      this.chartFigure(
        'Learning rate',
        'Optimizer learning rate per report',
        this.learningRateHost,
        () => this.learningRateChart && this.lineExport('Learning rate', this.learningRateChart),
      ),
      this.methodFigure,
    );
    this.methodFigure.hidden = true;
    training.append(el('h2', 'section-title', 'Training'), this.compareBar, trainingGrid);

    // Small multiples: one chart per metric, one line per layer.
    const multiplesHead = el('div', 'section-head');
    this.logToggle.textContent = 'Log scale';
    this.logToggle.title = 'Log-10 y axis (zeros are left out)';
    this.logToggle.addEventListener('change', () => {
      this.host.updateView({ logScale: this.logToggle.checked });
    });
    // The lines are coloured by depth; a swatch says which end is which.
    const depthKey = el('span', 'depth-key');
    depthKey.append(
      el('span', undefined, 'first layer'),
      el('span', 'depth-swatch'),
      el('span', undefined, 'last layer · hover names a line, click opens it'),
    );
    multiplesHead.append(
      el('h2', 'section-title', 'Layer metrics over steps'),
      depthKey,
      el('span', 'spacer'),
      this.logToggle,
    );
    const multiplesGrid = el('div', 'chart-grid multiples-grid');
    for (const channel of LAYER_CHANNELS) {
      const spec = METRICS[channel];
      const host = el('div', 'chart-host');
      this.multiplesHosts.set(channel, host);
      const figure = this.chartFigure(
        axisTitle(spec),
        `${spec.title}. One line per binary layer. Click a line to open its layer.`,
        host,
        () => {
          const chart = this.multiples.get(channel);
          return (
            chart &&
            uplotExport(spec.label, chart.uplot, this.palette, {
              log: this.host.view.logScale,
              format: (v) => formatMetric(spec, v),
            })
          );
        },
      );
      figure.dataset.metric = channel;
      figure.hidden = FINETUNE_CHANNELS.has(channel);
      this.multiplesFigures.set(channel, figure);
      multiplesGrid.append(figure);
    }
    this.multiplesSection.append(multiplesHead, multiplesGrid);

    // Model summary table.
    const tableSection = this.tableSection;
    for (const column of TABLE_COLUMNS) {
      const { label, title } = COLUMN_LABELS[column];
      const th = el('th');
      th.dataset.column = column;
      if (isNumericColumn(column)) th.classList.add('num');
      const button = el('button', 'sort-button', label);
      button.type = 'button';
      button.title = `${title} — click to sort`;
      button.addEventListener('click', () => {
        const v = this.host.view;
        const next = nextSort(
          v.sortColumn ? { column: v.sortColumn, direction: v.sortDirection } : undefined,
          column,
        );
        this.host.updateView({ sortColumn: next.column, sortDirection: next.direction });
      });
      th.append(button);
      this.overviewHead.append(th);
    }
    const thead = el('thead');
    thead.append(this.overviewHead);
    this.overview.append(thead, this.overviewBody);
    const tableWrap = el('div', 'table-wrap');
    tableWrap.append(this.overview);
    tableSection.append(this.tableTitle, tableWrap);

    // Per-layer cards.
    const layers = el('section', 'section');
    const head = el('div', 'section-head');
    this.layerSelect.setAttribute('aria-label', 'Layer');
    this.layerSelect.addEventListener('change', () => {
      this.host.updateView({ selectedLayer: this.layerSelect.value });
    });
    const modes = el('vscode-radio-group');
    modes.setAttribute('aria-label', 'Histogram over time');
    modes.className = 'mode-group';
    for (const [value, label] of [
      ['heatmap', 'Heatmap'],
      ['ridgeline', 'Ridgeline'],
    ] as const) {
      const radio = el('vscode-radio') as VscodeRadio;
      radio.name = 'overTimeMode';
      radio.value = value;
      radio.label = label;
      radio.dataset.value = value;
      radio.addEventListener('change', () => {
        if (radio.checked) this.host.updateView({ overTimeMode: value });
      });
      this.modeRadios.set(value, radio);
      modes.append(radio);
    }
    head.append(this.layersTitle, el('span', 'spacer'), modes, this.layerSelect);
    layers.append(head, this.layersEmpty, this.layerGrid);

    this.finetuneSection.hidden = true;
    this.watch.setAttribute('aria-label', 'Binary layers to watch');
    this.runView.append(
      stats,
      this.watch,
      training,
      this.finetuneSection,
      this.multiplesSection,
      tableSection,
      layers,
    );
    this.root.append(header, this.progress, this.banner, this.notice, this.empty, this.runView);
    for (const h of [this.lossHost, this.accuracyHost, this.learningRateHost, this.methodHost]) {
      this.resizeObserver.observe(h);
    }
    for (const h of this.multiplesHosts.values()) this.resizeObserver.observe(h);
    for (const h of [
      this.lossHost,
      this.accuracyHost,
      this.learningRateHost,
      this.methodHost,
      ...this.multiplesHosts.values(),
      this.overview,
    ]) {
      this.sectionVisibility.observe(h);
    }
  }

  /**
   * True when the part named `name` may redraw now: its `key` changed (the user sorted, picked,
   * toggled) or `intervalMs` passed since it last drew. Otherwise a render is scheduled for when
   * the interval is over, so the last update is never lost.
   */
  private throttle(name: string, key: string, intervalMs: number): boolean {
    const now = performance.now();
    const state = this.throttles.get(name) ?? { key: '', time: -Infinity, timer: undefined };
    this.throttles.set(name, state);
    if (key !== state.key || now - state.time >= intervalMs) {
      state.key = key;
      state.time = now;
      return true;
    }
    state.timer ??= window.setTimeout(
      () => {
        state.timer = undefined;
        if (this.model) this.render(this.model);
      },
      intervalMs - (now - state.time),
    );
    return false;
  }

  /** False once the element has been reported off screen (true until the first report). */
  private visible(host: Element): boolean {
    return !this.offScreen.has(host);
  }

  private chartFigure(
    title: string,
    tooltip: string,
    host: HTMLElement,
    getExport: () => ChartExport | undefined,
  ): HTMLElement {
    const figure = el('figure', 'chart-card');
    const caption = el('figcaption', 'chart-title');
    const text = el('span', 'chart-title-text', title);
    text.title = tooltip;
    caption.append(
      text,
      el('span', 'spacer'),
      exportButtons(
        getExport,
        () => this.runIdText,
        (msg) => this.host.post(msg),
      ),
    );
    figure.append(caption, host);
    return figure;
  }

  private lineExport(title: string, chart: LineChart): ChartExport {
    return uplotExport(title, chart.uplot, this.palette);
  }

  private exportCsv(): void {
    const run = this.model?.run;
    if (!run) return;
    this.host.post({
      kind: 'export',
      format: 'csv',
      name: exportFileName(run.runId, 'metrics', 'csv'),
      data: runCsv(run),
    });
  }

  /** Shows a problem of the panel itself (a malformed message) instead of going blank. */
  showError(message: string): void {
    this.banner.hidden = false;
    this.banner.dataset.kind = 'error';
    this.showLog.hidden = false;
    setText(this.bannerText, `The dashboard could not update: ${message}`);
  }

  /** Recreates every chart with the current theme colours. */
  applyTheme(): void {
    this.palette = readPalette();
    this.destroyCharts();
    for (const card of this.cards.values()) card.mount(this.palette);
    if (this.model) this.render(this.model);
  }

  private destroyCharts(): void {
    for (const chart of [
      this.lossChart,
      this.accuracyChart,
      this.learningRateChart,
      this.methodChart,
    ]) {
      chart?.destroy();
    }
    this.lossChart = undefined;
    this.accuracyChart = undefined;
    this.learningRateChart = undefined;
    this.methodChart = undefined;
    this.methodKey = '';
    this.compareKey = '';
    for (const chart of this.multiples.values()) chart.destroy();
    this.multiples = new Map();
    this.multiplesKey = '';
    this.rendered = new WeakMap();
  }

  private scheduleResize(): void {
    if (this.resizePending) return;
    this.resizePending = true;
    requestAnimationFrame(() => {
      this.resizePending = false;
      const fit = (chart: { setWidth(w: number): void } | undefined, host: HTMLElement) => {
        const w = host.clientWidth;
        if (w > 0) chart?.setWidth(w);
      };
      fit(this.lossChart, this.lossHost);
      fit(this.accuracyChart, this.accuracyHost);
      fit(this.learningRateChart, this.learningRateHost);
      fit(this.methodChart, this.methodHost);
      for (const [channel, chart] of this.multiples) {
        const host = this.multiplesHosts.get(channel);
        if (host) fit(chart, host);
      }
      for (const card of this.cards.values()) card.resize();
    });
  }

  /** Brings the DOM in line with `model`. */
  render(model: DashboardModel): void {
    this.model = model;
    const run = model.run;
    this.renderHeader(model);
    this.renderBanner(model);
    this.renderNotice(model);
    this.empty.hidden = !model.connected || run !== undefined;
    this.runView.hidden = run === undefined;
    this.progress.hidden = run === undefined;
    if (!model.connected) {
      this.root.setAttribute('aria-busy', 'true');
      return;
    }
    this.root.removeAttribute('aria-busy');
    if (!run) {
      this.renderEmpty(model.trusted);
      return;
    }
    this.renderProgress(run);
    this.renderStats(run);
    this.renderTraining(run, model.compare);
    // Redrawn when the run, its status or its summary changes (a running or cancelled fine-tune
    // has no summary, like a training run: the key tells them apart).
    const finetuneKey = `${run.runId}\n${run.dir}\n${run.finetune}\n${run.status}`;
    if (
      this.finetuneKey !== finetuneKey ||
      this.rendered.get(this.finetuneSection) !== run.finetuneSummary
    ) {
      this.finetuneKey = finetuneKey;
      this.rendered.set(this.finetuneSection, run.finetuneSummary);
      renderFinetuneSummary(this.finetuneSection, run);
    }
    this.renderMultiples(run);
    this.renderTable(run);
    this.renderLayers(run);
    const layerCards = [...this.cards.keys()];
    const renderedKey = `${run.runId}\n${run.status}\n${layerCards.join('\n')}`;
    if (renderedKey !== this.renderedKey) {
      this.renderedKey = renderedKey;
      this.host.post({ kind: 'rendered', runId: run.runId, status: run.status, layerCards });
    }
  }

  private renderHeader(model: DashboardModel): void {
    const run = model.run;
    setText(this.title, run?.preset || 'BNN Lab');
    setText(this.runId, run ? run.runId : '');
    this.runId.title = run?.dir ?? '';
    this.badge.hidden = run === undefined;
    if (run) {
      this.badge.dataset.status = run.status;
      setText(this.badge, run.status);
    }
    const running = run?.status === 'running';
    this.csvButton.hidden = !run;
    this.actionButton.hidden = !model.connected || (!run && !running);
    setText(this.actionButton, running ? 'Stop' : 'Train');
    this.actionButton.secondary = running;
    this.actionButton.disabled = !running && !model.trusted;
    this.actionButton.title = running
      ? 'Stop the run after the current batch'
      : model.trusted
        ? 'Start a new training run'
        : 'Training needs a trusted workspace';
  }

  private renderBanner(model: DashboardModel): void {
    const run = model.run;
    let kind: 'error' | 'warning' | 'info' | undefined;
    let text = '';
    if (run?.status === 'failed') {
      kind = 'error';
      text = `Training failed: ${run.message ?? 'see the log for details.'}`;
    } else if (run?.status === 'cancelled') {
      kind = 'info';
      const step = progressOf(run).step;
      text = cancelledText(step, run.message);
    } else if (run && !model.trusted) {
      kind = 'warning';
      text = 'Restricted Mode: viewing runs works, but training needs a trusted workspace.';
    }
    this.banner.hidden = kind === undefined;
    this.banner.dataset.kind = kind ?? '';
    this.showLog.hidden = kind !== 'error';
    setText(this.bannerText, text);
  }

  /** Input problems: lines skipped in metrics.jsonl, a run folder deleted while open. */
  private renderNotice(model: DashboardModel): void {
    const parts: string[] = [];
    const run = model.run;
    if (run?.missing) {
      parts.push(
        `The run folder ${run.dir} was deleted. The charts keep what was loaded; ` +
          'open another run from the Runs view.',
      );
    }
    if (model.compare?.missing) {
      parts.push(`The compared run folder ${model.compare.dir} was deleted.`);
    }
    const skipped = run && skippedNotice(run);
    if (skipped) parts.push(skipped);
    this.notice.hidden = parts.length === 0;
    this.notice.dataset.missing = run?.missing ? 'true' : 'false';
    setText(this.noticeText, parts.join(' '));
  }

  private renderEmpty(trusted: boolean): void {
    if (trusted) {
      setText(this.emptyTitle, 'No training run yet');
      setText(
        this.emptyText,
        "Run 'BNN Lab: Train BNN' from the Command Palette, or start one here. " +
          'Loss, accuracy and per-layer telemetry appear live while it trains; ' +
          'finished runs open from the Runs view.',
      );
    } else {
      setText(this.emptyTitle, 'Training needs a trusted workspace');
      setText(
        this.emptyText,
        'This workspace is in Restricted Mode. Trust it to train BNNs; ' +
          'existing runs can still be viewed from the Runs view.',
      );
    }
    this.emptyButton.hidden = !trusted;
  }

  private renderProgress(run: RunModel): void {
    const { step, fraction } = progressOf(run);
    // A transform, not a width: no layout of the page on every report.
    this.progressFill.style.transform = `scaleX(${fraction.toFixed(4)})`;
    this.progress.dataset.status = run.status;
    const epochs = run.config?.epochs;
    const epoch = run.latest?.epoch ?? run.epochs.at(-1)?.epoch;
    const parts = [
      epoch !== undefined ? `Epoch ${epoch}${epochs ? ` / ${epochs}` : ''}` : 'Starting…',
      `step ${formatInteger(step)}${run.totalSteps ? ` / ${formatInteger(run.totalSteps)}` : ''}`,
    ];
    const adapter = run.backend?.adapter;
    if (run.backend) {
      const gpu = adapter
        ? ` on ${adapter.description || adapter.device}${adapter.software ? ' (software adapter)' : ''}`
        : '';
      parts.push(`${run.backend.name} backend${gpu}`);
    }
    if (run.config) parts.push(`${run.config.dataset.name}, seed ${run.config.seed}`);
    setText(this.progressText, parts.join(' · '));
    this.progressText.title = run.backend?.skipped.length
      ? `Skipped backends: ${run.backend.skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}`
      : '';
  }

  private renderWatch(run: RunModel): void {
    const entries = troubleLayers(run.layers.map((l) => l.latest));
    const key = entries.map((e) => e.text).join('\n');
    if (key === this.watchKey) return;
    this.watchKey = key;
    this.watch.hidden = entries.length === 0;
    const items = entries.map((e) => {
      const button = el('button', 'watch-item');
      button.type = 'button';
      button.dataset.layer = e.layer;
      button.dataset.metric = e.metric.key;
      button.title = `${e.metric.title}. Click to open ${e.layer}.`;
      button.append(
        el('span', 'watch-label', `${e.label}:`),
        el('span', 'watch-layer', e.layer),
        el('span', 'watch-value', formatMetric(e.metric, e.value)),
      );
      button.addEventListener('click', () => this.openLayer(e.layer));
      return button;
    });
    this.watch.replaceChildren(el('span', 'watch-title', 'Watch'), ...items);
  }

  private renderStats(run: RunModel): void {
    this.renderWatch(run);
    const latest = run.latest;
    const lastEpoch = run.epochs.at(-1);
    this.tiles.loss.set(
      latest?.loss,
      formatLoss(latest?.loss),
      latest ? `step ${formatInteger(latest.step)}` : '',
    );
    this.tiles.trainAccuracy.set(
      latest?.accuracy,
      formatPercent(latest?.accuracy),
      lastEpoch ? `epoch ${lastEpoch.epoch}: ${formatPercent(lastEpoch.trainAccuracy)}` : '',
    );
    const testAccuracy = latestTestAccuracy(run);
    const best = run.epochs.reduce<EpochPoint | undefined>(
      (b, e) => (b === undefined || e.testAccuracy > b.testAccuracy ? e : b),
      undefined,
    );
    this.tiles.testAccuracy.set(
      testAccuracy,
      formatPercent(testAccuracy),
      best ? `best ${formatPercent(best.testAccuracy)} · epoch ${best.epoch}` : 'after each epoch',
    );
    this.tiles.learningRate.set(
      latest?.learningRate,
      formatSignificant(latest?.learningRate),
      run.config ? `batch size ${run.config.batchSize}` : '',
    );
    this.tiles.throughput.set(
      latest?.examplesPerSecond,
      latest ? `${formatCompact(latest.examplesPerSecond)}/s` : MISSING,
      'examples per second',
    );
    const elapsed =
      run.startTime !== undefined && run.lastTime !== undefined
        ? run.lastTime - run.startTime
        : undefined;
    this.tiles.elapsed.set(
      elapsed,
      formatDuration(elapsed),
      lastEpoch ? `last epoch ${formatDuration(lastEpoch.durationMs)}` : '',
    );
  }

  /** True once per new value of `value` for `slot` (skips redrawing unchanged data). */
  private changed(slot: object, value: unknown): boolean {
    if (this.rendered.get(slot) === value) return false;
    this.rendered.set(slot, value);
    return true;
  }

  private renderTraining(run: RunModel, compare: RunModel | undefined): void {
    const p = this.palette;
    const compareKey = compare ? `${compare.runId}\n${compare.dir}` : '';
    this.compareBar.hidden = !compare;
    if (compare) {
      setText(
        this.compareText,
        `Comparing with ${compare.runId} (dashed)${
          latestTestAccuracy(compare) !== undefined
            ? ` · test acc. ${formatPercent(latestTestAccuracy(compare))}`
            : ''
        }`,
      );
      this.compareText.title = compare.dir;
    }
    if (compareKey !== this.compareKey) {
      this.compareKey = compareKey;
      this.lossChart?.destroy();
      this.accuracyChart?.destroy();
      this.lossChart = undefined;
      this.accuracyChart = undefined;
    }
    const pair = (
      trainColor: string,
      testColor: string,
      format: (v: number) => string,
    ): LineSeriesSpec[] => {
      const series: LineSeriesSpec[] = [
        { label: 'train', color: trainColor, format },
        { label: 'test', color: testColor, format, sparse: true },
      ];
      if (compare) {
        series.push(
          { label: `${compare.runId} train`, color: trainColor, format, dash: [5, 4] },
          { label: `${compare.runId} test`, color: testColor, format, sparse: true, dash: [5, 4] },
        );
      }
      return series;
    };
    if (!this.lossChart) {
      this.lossChart = new LineChart(
        this.lossHost,
        {
          height: TRAINING_CHART_HEIGHT,
          palette: p,
          ariaLabel: 'Training and test loss over steps',
          syncKey: SYNC_KEY,
          y: { kind: 'number', metric: 'loss' },
          smoothing: true,
          series: pair(p.blue, p.orange, formatLoss),
        },
        this.lossHost.clientWidth,
      );
    }
    if (!this.accuracyChart) {
      this.accuracyChart = new LineChart(
        this.accuracyHost,
        {
          height: TRAINING_CHART_HEIGHT,
          palette: p,
          ariaLabel: 'Training and test accuracy over steps',
          syncKey: SYNC_KEY,
          y: { kind: 'percent', metric: 'accuracy' },
          smoothing: true,
          series: pair(p.blue, p.green, (v) => formatPercent(v)),
        },
        this.accuracyHost.clientWidth,
      );
    }
    if (!this.learningRateChart) {
      this.learningRateChart = new LineChart(
        this.learningRateHost,
        {
          height: SMALL_CHART_HEIGHT,
          palette: p,
          ariaLabel: 'Learning rate over steps',
          syncKey: SYNC_KEY,
          y: { kind: 'number', metric: 'learningRate' },
          series: [
            { label: 'learning rate', color: p.purple, format: (v) => formatSignificant(v) },
          ],
        },
        this.learningRateHost.clientWidth,
      );
    }
    const curves = (r: RunModel): { loss: ColumnGroup[]; accuracy: ColumnGroup[] } => {
      const epochs = [...r.epochs].sort((a, b) => a.step - b.step);
      const epochX = epochs.map((e) => e.step);
      const x = r.training.x;
      return {
        loss: [
          { x, y: [r.training.y[0]] },
          { x: epochX, y: [epochs.map((e) => e.testLoss)] },
        ],
        accuracy: [
          { x, y: [r.training.y[1]] },
          { x: epochX, y: [epochs.map((e) => e.testAccuracy)] },
        ],
      };
    };
    const onScreen = this.visible(this.lossHost) || this.visible(this.accuracyHost);
    const trainingChanged = onScreen && this.changed(this.lossHost, run.training);
    const epochsChanged = onScreen && this.changed(this.accuracyHost, run.epochs);
    const compareChanged = onScreen && this.changed(this.compareBar, compare);
    if (trainingChanged || epochsChanged || compareChanged) {
      const own = curves(run);
      const other = compare ? curves(compare) : { loss: [], accuracy: [] };
      this.lossChart.setData(alignGroups([...own.loss, ...other.loss]));
      this.accuracyChart.setData(alignGroups([...own.accuracy, ...other.accuracy]));
    }
    if (
      this.visible(this.learningRateHost) &&
      this.changed(this.learningRateHost, run.learningRate)
    ) {
      this.learningRateChart.setData(alignGroups([run.learningRate]));
    }
    this.renderMethod(run);
  }

  /** τ and the method's losses, when the stream carries any. */
  private renderMethod(run: RunModel): void {
    const names = Object.keys(run.scalars);
    this.methodFigure.hidden = names.length === 0;
    const key = names.join('\n');
    if (key !== this.methodKey) {
      this.methodKey = key;
      // What each scalar is: lnsAux's large negative values are expected, not a bug.
      setText(this.methodNote, names.map((n) => scalarSpec(n).title).join(' · '));
      this.methodChart?.destroy();
      this.methodChart = undefined;
      this.rendered.delete(this.methodHost);
    }
    if (names.length === 0) return;
    const p = this.palette;
    const colors = [p.red, p.green, p.orange, p.blue, p.yellow, p.purple];
    if (!this.methodChart) {
      this.methodChart = new LineChart(
        this.methodHost,
        {
          height: SMALL_CHART_HEIGHT,
          palette: p,
          ariaLabel: `Method scalars over steps: ${names.map(scalarLabel).join(', ')}`,
          syncKey: SYNC_KEY,
          y: { kind: 'number', metric: names.find((n) => n !== 'tau') ?? names[0] },
          // τ lives on its own axis: it is a threshold, not a loss.
          y2:
            names.includes('tau') && names.length > 1
              ? { kind: 'number', metric: 'tau', color: p.red }
              : undefined,
          series: names.map((name, i) => ({
            label: scalarLabel(name),
            color: colors[i % colors.length],
            scale: name === 'tau' && names.length > 1 ? 'y2' : 'y',
            format: (v: number) => formatMetric(scalarSpec(name), v),
          })),
        },
        this.methodHost.clientWidth,
      );
    }
    const series = names.map((n) => run.scalars[n]);
    if (
      this.visible(this.methodHost) &&
      this.changed(this.methodHost, series.map((s) => s.x.length).join(',') + run.training.x.at(-1))
    ) {
      this.methodChart.setData(alignGroups(series));
    }
  }

  private renderMultiples(run: RunModel): void {
    const names = run.layers.map((l) => l.info.name);
    this.multiplesSection.hidden = names.length === 0;
    if (names.length === 0) return;
    const log = this.host.view.logScale;
    if (this.logToggle.checked !== log) this.logToggle.checked = log;
    const key = `${names.join('\n')}\n${log}\n${run.finetune}`;
    if (key !== this.multiplesKey) {
      this.multiplesKey = key;
      for (const chart of this.multiples.values()) chart.destroy();
      this.multiples = new Map();
      for (const channel of LAYER_CHANNELS) {
        const host = this.multiplesHosts.get(channel);
        const shown = run.finetune || !FINETUNE_CHANNELS.has(channel);
        const figure = this.multiplesFigures.get(channel);
        if (figure) figure.hidden = !shown;
        if (!host || !shown) continue;
        const spec = METRICS[channel];
        this.multiples.set(
          channel,
          new MultiplesChart(
            host,
            {
              height: MULTIPLES_HEIGHT,
              palette: this.palette,
              layers: names,
              metric: spec,
              log,
              syncKey: SYNC_KEY,
              ariaLabel: `${spec.label} of every binary layer over steps`,
              onPick: (layer) => this.openLayer(layer),
            },
            host.clientWidth,
          ),
        );
      }
      this.rendered.delete(this.multiplesSection);
    }
    const onScreen = [...this.multiplesHosts.values()].some((h) => this.visible(h));
    if (!onScreen || this.rendered.get(this.multiplesSection) === run.layers) return;
    // 4 charts × one line per layer: redrawn at most twice a second while a run streams.
    if (run.status === 'running' && !this.throttle('multiples', key, MULTIPLES_INTERVAL_MS)) return;
    this.rendered.set(this.multiplesSection, run.layers);
    const width = this.multiplesHosts.get('quantizationError')?.clientWidth ?? 0;
    LAYER_CHANNELS.forEach((channel, c) => {
      if (!this.multiples.has(channel)) return;
      const groups = run.layers.map((l) => ({ x: l.metrics.x, y: [l.metrics.y[c]] }));
      this.multiples.get(channel)?.setData(decimate(alignGroups(groups), Math.max(200, width)));
    });
  }

  /** Click-through from a chart or the table: show that layer's card and move focus to it. */
  private openLayer(name: string): void {
    this.host.updateView({ selectedLayer: name });
    requestAnimationFrame(() => {
      const card = this.cards.get(name);
      if (!card) return;
      card.root.scrollIntoView({ block: 'start' });
      card.root.focus({ preventScroll: true });
    });
  }

  private renderTable(run: RunModel): void {
    const view = this.host.view;
    if (!this.visible(this.overview) && this.rows.size === run.allLayers.length) return;
    // While a run streams, figures that change 10 times a second cannot be read anyway: the
    // table (a full relayout of every row) follows at most once a second, unless the user
    // sorted or picked a layer.
    const key = `${run.runId}\n${view.sortColumn}\n${view.sortDirection}\n${view.selectedLayer}\n${run.allLayers.length}`;
    if (run.status === 'running' && !this.throttle('table', key, TABLE_INTERVAL_MS)) return;
    const selected = view.selectedLayer;
    const latest = new Map(run.layers.map((l) => [l.info.name, l.latest]));
    const base: LayerRow[] = run.allLayers.map((info, order) => ({
      order,
      info,
      latest: latest.get(info.name),
    }));
    const rows = view.sortColumn ? sortRows(base, view.sortColumn, view.sortDirection) : base;
    setText(
      this.tableTitle,
      `Model summary (${run.allLayers.length} layers, ${run.layers.length} binary)`,
    );
    for (const th of Array.from(this.overviewHead.cells)) {
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
      this.overviewBody.replaceChildren(...elements);
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
      if (this.host.view.selectedLayer === name) this.host.updateView({ selectedLayer: '' });
      else this.openLayer(name);
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

  private renderLayers(run: RunModel): void {
    const names = run.layers.map((l) => l.info.name);
    const key = `${run.runId}\n${names.join('\n')}`;
    if (key !== this.layerKey) {
      this.layerKey = key;
      this.rebuildLayers(run);
    }
    setText(this.layersTitle, `Binary layers (${run.layers.length})`);
    this.layersEmpty.hidden = run.layers.length > 0;
    const view = this.host.view;
    const selected = names.includes(view.selectedLayer) ? view.selectedLayer : '';
    if (this.layerSelect.value !== selected) this.layerSelect.value = selected;
    for (const [value, radio] of this.modeRadios) {
      const checked = value === view.overTimeMode;
      if (radio.checked !== checked) radio.checked = checked;
    }
    this.layerGrid.classList.toggle('single', selected !== '');
    const tau = run.config?.deadTau ?? 0.99;
    for (const layer of run.layers) {
      const card = this.cards.get(layer.info.name);
      if (!card) continue;
      card.root.hidden = selected !== '' && selected !== layer.info.name;
      card.update(layer, tau, view.overTimeMode);
    }
  }

  private rebuildLayers(run: RunModel): void {
    for (const card of this.cards.values()) {
      card.unmount();
      card.root.remove();
    }
    this.cards = new Map();
    this.resizeObserver.disconnect();
    this.visibility.disconnect();
    for (const h of [this.lossHost, this.accuracyHost, this.learningRateHost, this.methodHost]) {
      this.resizeObserver.observe(h);
    }
    for (const h of this.multiplesHosts.values()) this.resizeObserver.observe(h);

    const options = [el('vscode-option', undefined, 'All layers')];
    options[0].value = '';
    for (const layer of run.layers) {
      const name = layer.info.name;
      const option = el('vscode-option', undefined, name);
      option.value = name;
      options.push(option);

      const card = new LayerCard(
        name,
        () => this.runIdText,
        (msg) => this.host.post(msg),
      );
      this.layerGrid.append(card.root);
      card.mount(this.palette);
      card.observe(this.resizeObserver);
      this.visibility.observe(card.root);
      this.cards.set(name, card);
    }
    this.layerSelect.replaceChildren(...options);
    this.layerSelect.hidden = run.layers.length < 2;
  }
}
