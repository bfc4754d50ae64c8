/**
 * DOM for the dashboard: builds the page once, then updates text and charts from the model.
 * All text goes through `textContent` (layer names come from user models, never from markup),
 * and no element gets a `style` attribute in markup: sizes are set through the CSSOM.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import type { ToHost } from '../core/protocol';
import { alignGroups } from './charts/align';
import { HistogramChart } from './charts/histogramChart';
import { LineChart } from './charts/lineChart';
import {
  MISSING,
  formatCompact,
  formatDuration,
  formatInteger,
  formatLoss,
  formatPercent,
  formatShape,
  formatSignificant,
} from './format';
import {
  deadThreshold,
  latestTestAccuracy,
  progressOf,
  type DashboardModel,
  type EpochPoint,
  type LayerModel,
  type RunModel,
} from './state';
import { readPalette, type Palette } from './theme';

const TRAINING_CHART_HEIGHT = 170;
const LAYER_CHART_HEIGHT = 120;
const HISTOGRAM_HEIGHT = 84;
const SYNC_KEY = 'bnnLab.steps';

type Command = Extract<ToHost, { kind: 'command' }>['command'];

/** What the view needs from the outside world. */
export interface DashboardHost {
  post(command: Command): void;
  selectedLayer: string;
  onSelectLayer(name: string): void;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setText(node: Element, text: string): void {
  if (node.textContent !== text) node.textContent = text;
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

/** One binary layer: header, histogram and QE / dead / flip / frozen chart. */
class LayerCard {
  readonly root = el('article', 'layer-card');
  private readonly meta = el('div', 'layer-meta');
  private readonly histHost = el('div', 'hist-host');
  private readonly histCaption = el('div', 'hist-caption');
  private readonly chartHost = el('div', 'chart-host');
  private histogram: HistogramChart | undefined;
  private chart: LineChart | undefined;
  private hoverText: string | undefined;
  private rendered: LayerModel | undefined;
  private tau = 0.99;

  constructor(readonly name: string) {
    this.root.dataset.layer = name;
    const head = el('header', 'layer-head');
    head.append(el('h3', 'layer-name', name), this.meta);
    const histTitle = el('div', 'sub-title', 'Latent weights');
    histTitle.title =
      'Histogram of the real-valued latent weights. Orange bins binarize to −1, blue to +1; ' +
      'dashed red lines mark ±Q(τ), beyond which weights count as dead. Hover a bar for its count.';
    const chartTitle = el('div', 'sub-title', 'Over steps');
    chartTitle.title =
      'Quantization error, dead-weight ratio and frozen ratio on the left axis; ' +
      'flip rate (per optimizer step) on the right axis.';
    this.root.append(head, histTitle, this.histHost, this.histCaption);
    this.root.append(chartTitle, this.chartHost);
  }

  mount(palette: Palette): void {
    this.unmount();
    this.histogram = new HistogramChart(
      this.histHost,
      palette,
      HISTOGRAM_HEIGHT,
      `Latent weight histogram of ${this.name}`,
      (text) => {
        this.hoverText = text;
        this.updateCaption();
      },
    );
    this.chart = new LineChart(
      this.chartHost,
      {
        height: LAYER_CHART_HEIGHT,
        palette,
        ariaLabel: `Quantization error, dead-weight ratio, frozen ratio and flip rate of ${this.name}`,
        syncKey: SYNC_KEY,
        y: { kind: 'percent' },
        y2: { kind: 'percent', color: palette.purple },
        series: [
          { label: 'QE', color: palette.blue, format: (v) => formatPercent(v) },
          { label: 'dead', color: palette.red, format: (v) => formatPercent(v) },
          { label: 'flip', color: palette.purple, scale: 'y2', format: (v) => formatPercent(v, 3) },
          {
            // Near 100% early on, it would flatten QE and dead; one click on the legend shows it.
            label: 'frozen',
            color: palette.green,
            dash: [4, 3],
            format: (v) => formatPercent(v),
            show: false,
          },
        ],
      },
      this.chartHost.clientWidth,
    );
    this.rendered = undefined;
  }

  unmount(): void {
    this.histogram?.destroy();
    this.chart?.destroy();
    this.histogram = undefined;
    this.chart = undefined;
  }

  resize(): void {
    const histWidth = this.histHost.clientWidth;
    const chartWidth = this.chartHost.clientWidth;
    if (histWidth > 0) this.histogram?.setWidth(histWidth);
    if (chartWidth > 0) this.chart?.setWidth(chartWidth);
  }

  observe(observer: ResizeObserver): void {
    observer.observe(this.histHost);
    observer.observe(this.chartHost);
  }

  update(layer: LayerModel, tau: number): void {
    if (layer === this.rendered && tau === this.tau) return;
    this.rendered = layer;
    this.tau = tau;
    const { info, latest } = layer;
    const metaParts = [
      info.kind,
      info.shape.length ? formatShape(info.shape) : '',
      `${formatCompact(info.params)} params`,
      info.quantizer,
    ].filter((p) => p !== '');
    setText(this.meta, metaParts.join(' · '));
    const threshold = latest ? deadThreshold(latest.absMean, tau) : undefined;
    this.histogram?.setData(latest?.histogram, threshold);
    this.chart?.setData(alignGroups([layer.metrics]));
    this.updateCaption();
  }

  private updateCaption(): void {
    const latest = this.rendered?.latest;
    if (this.hoverText) {
      setText(this.histCaption, this.hoverText);
    } else if (latest) {
      setText(
        this.histCaption,
        `μ ${formatSignificant(latest.mean, 2)} · σ ${formatSignificant(latest.std, 2)} · ` +
          `|w|>Q ${formatPercent(latest.deadWeightRatio, 1)} · +1 ${formatPercent(latest.signBalance, 1)}`,
      );
    } else {
      setText(this.histCaption, 'Waiting for the first report…');
    }
  }
}

/** The whole panel. `render` is cheap when nothing changed; call it once per frame at most. */
export class Dashboard {
  private palette: Palette = readPalette();
  private readonly title = el('h1', 'run-title', 'BNN Lab');
  private readonly runId = el('span', 'run-id');
  private readonly badge = el('span', 'status-badge');
  private readonly actionButton = el('vscode-button') as VscodeButton;
  private readonly progress = el('div', 'progress');
  private readonly progressFill = el('div', 'progress-fill');
  private readonly progressText = el('div', 'progress-text');
  private readonly banner = el('div', 'banner');
  private readonly bannerText = el('span', 'banner-text');
  private readonly showLog = el('a', 'banner-link', 'Show Log');
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
  private lossChart: LineChart | undefined;
  private accuracyChart: LineChart | undefined;
  private readonly layersTitle = el('h2', 'section-title', 'Binary layers');
  private readonly layerSelect = el('vscode-single-select') as VscodeSingleSelect;
  private readonly overview = el('table', 'overview');
  private readonly overviewBody = el('tbody');
  private readonly layersEmpty = el(
    'p',
    'layers-empty',
    'Per-layer telemetry (histograms, quantization error, dead weights, flips) appears with the first report.',
  );
  private readonly layerGrid = el('div', 'layer-grid');
  private cards = new Map<string, LayerCard>();
  private layerKey = '';
  private renderedTraining: unknown;
  private renderedEpochs: unknown;
  private readonly resizeObserver: ResizeObserver;
  private resizePending = false;
  private model: DashboardModel | undefined;

  constructor(
    private readonly root: HTMLElement,
    private readonly host: DashboardHost,
  ) {
    this.resizeObserver = new ResizeObserver(() => this.scheduleResize());
    this.build();
  }

  private build(): void {
    const header = el('header', 'toolbar');
    const titleBlock = el('div', 'title-block');
    titleBlock.append(this.title, this.runId);
    this.badge.hidden = true;
    this.actionButton.addEventListener('click', () => {
      const running = this.model?.run?.status === 'running';
      this.host.post(running ? 'stop' : 'train');
    });
    header.append(titleBlock, this.badge, el('span', 'spacer'), this.actionButton);

    const track = el('div', 'progress-track');
    track.append(this.progressFill);
    this.progress.append(track, this.progressText);

    this.showLog.href = '#';
    this.showLog.addEventListener('click', (e) => {
      e.preventDefault();
      this.host.post('showLog');
    });
    this.banner.setAttribute('role', 'status');
    this.banner.append(this.bannerText, this.showLog);

    this.emptyButton.textContent = 'Train BNN';
    this.emptyButton.addEventListener('click', () => this.host.post('train'));
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
      ),
      this.chartFigure(
        'Accuracy',
        'Line: training accuracy per report; dots: test accuracy per epoch',
        this.accuracyHost,
      ),
    );
    training.append(el('h2', 'section-title', 'Training'), trainingGrid);

    const layers = el('section', 'section');
    const head = el('div', 'section-head');
    this.layerSelect.setAttribute('aria-label', 'Layer');
    this.layerSelect.addEventListener('change', () => {
      this.host.onSelectLayer(this.layerSelect.value);
    });
    head.append(this.layersTitle, el('span', 'spacer'), this.layerSelect);
    const table = this.overview;
    const thead = el('thead');
    const headRow = el('tr');
    for (const [label, tip] of [
      ['Layer', ''],
      ['QE', 'Quantization error (relative, channel-scaled)'],
      ['Dead', 'Dead-weight ratio: |w| > Q(τ)'],
      ['Flip', 'Flip rate: mean per-step sign-flip fraction since the last report'],
      ['Frozen', 'Weights whose sign never changed since the run started'],
      ['+1', 'Fraction of binary weights equal to +1'],
    ]) {
      const th = el('th', undefined, label);
      if (tip) th.title = tip;
      headRow.append(th);
    }
    thead.append(headRow);
    table.append(thead, this.overviewBody);
    layers.append(head, this.layersEmpty, table, this.layerGrid);

    this.runView.append(stats, training, layers);
    this.root.append(header, this.progress, this.banner, this.empty, this.runView);
    this.resizeObserver.observe(this.lossHost);
    this.resizeObserver.observe(this.accuracyHost);
  }

  private chartFigure(title: string, tooltip: string, host: HTMLElement): HTMLElement {
    const figure = el('figure', 'chart-card');
    const caption = el('figcaption', 'chart-title', title);
    caption.title = tooltip;
    figure.append(caption, host);
    return figure;
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
    this.destroyTrainingCharts();
    for (const card of this.cards.values()) card.mount(this.palette);
    if (this.model) this.render(this.model);
  }

  private destroyTrainingCharts(): void {
    this.lossChart?.destroy();
    this.accuracyChart?.destroy();
    this.lossChart = undefined;
    this.accuracyChart = undefined;
    this.renderedTraining = undefined;
    this.renderedEpochs = undefined;
  }

  private scheduleResize(): void {
    if (this.resizePending) return;
    this.resizePending = true;
    requestAnimationFrame(() => {
      this.resizePending = false;
      const lossWidth = this.lossHost.clientWidth;
      const accuracyWidth = this.accuracyHost.clientWidth;
      if (lossWidth > 0) this.lossChart?.setWidth(lossWidth);
      if (accuracyWidth > 0) this.accuracyChart?.setWidth(accuracyWidth);
      for (const card of this.cards.values()) card.resize();
    });
  }

  /** Brings the DOM in line with `model`. */
  render(model: DashboardModel): void {
    this.model = model;
    const run = model.run;
    this.renderHeader(model);
    this.renderBanner(model);
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
    this.renderTraining(run);
    this.renderLayers(run);
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
      text = `Run cancelled${step > 0 ? ` at step ${formatInteger(step)}` : ''}.${
        run.message ? ` ${run.message}` : ''
      }`;
    } else if (run && !model.trusted) {
      kind = 'warning';
      text = 'Restricted Mode: viewing runs works, but training needs a trusted workspace.';
    }
    this.banner.hidden = kind === undefined;
    this.banner.dataset.kind = kind ?? '';
    this.showLog.hidden = kind !== 'error';
    setText(this.bannerText, text);
  }

  private renderEmpty(trusted: boolean): void {
    if (trusted) {
      setText(this.emptyTitle, 'No training run yet');
      setText(
        this.emptyText,
        "Run 'BNN Lab: Train BNN' from the Command Palette, or start one here. " +
          'Loss, accuracy and per-layer telemetry appear live while it trains.',
      );
    } else {
      setText(this.emptyTitle, 'Training needs a trusted workspace');
      setText(
        this.emptyText,
        'This workspace is in Restricted Mode. Trust it to train BNNs; ' +
          'existing runs can still be viewed.',
      );
    }
    this.emptyButton.hidden = !trusted;
  }

  private renderProgress(run: RunModel): void {
    const { step, fraction } = progressOf(run);
    this.progressFill.style.width = `${(fraction * 100).toFixed(2)}%`;
    this.progress.dataset.status = run.status;
    const epochs = run.config?.epochs;
    const epoch = run.latest?.epoch ?? run.epochs.at(-1)?.epoch;
    const parts = [
      epoch !== undefined ? `Epoch ${epoch}${epochs ? ` / ${epochs}` : ''}` : 'Starting…',
      `step ${formatInteger(step)}${run.totalSteps ? ` / ${formatInteger(run.totalSteps)}` : ''}`,
    ];
    if (run.backend) parts.push(`${run.backend.name} backend`);
    if (run.config) parts.push(`${run.config.dataset.name}, seed ${run.config.seed}`);
    setText(this.progressText, parts.join(' · '));
    this.progressText.title = run.backend?.skipped.length
      ? `Skipped backends: ${run.backend.skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}`
      : '';
  }

  private renderStats(run: RunModel): void {
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

  private renderTraining(run: RunModel): void {
    const p = this.palette;
    if (!this.lossChart) {
      this.lossChart = new LineChart(
        this.lossHost,
        {
          height: TRAINING_CHART_HEIGHT,
          palette: p,
          ariaLabel: 'Training and test loss over steps',
          syncKey: SYNC_KEY,
          y: { kind: 'number' },
          series: [
            { label: 'train', color: p.blue, format: formatLoss },
            { label: 'test', color: p.orange, format: formatLoss, sparse: true },
          ],
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
          y: { kind: 'percent' },
          series: [
            { label: 'train', color: p.blue, format: (v) => formatPercent(v) },
            { label: 'test', color: p.green, format: (v) => formatPercent(v), sparse: true },
          ],
        },
        this.accuracyHost.clientWidth,
      );
    }
    if (run.training === this.renderedTraining && run.epochs === this.renderedEpochs) return;
    this.renderedTraining = run.training;
    this.renderedEpochs = run.epochs;
    const epochs = [...run.epochs].sort((a, b) => a.step - b.step);
    const epochX = epochs.map((e) => e.step);
    const [x, loss, accuracy] = [run.training.x, run.training.y[0], run.training.y[1]];
    this.lossChart.setData(
      alignGroups([
        { x, y: [loss] },
        { x: epochX, y: [epochs.map((e) => e.testLoss)] },
      ]),
    );
    this.accuracyChart.setData(
      alignGroups([
        { x, y: [accuracy] },
        { x: epochX, y: [epochs.map((e) => e.testAccuracy)] },
      ]),
    );
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
    this.overview.hidden = run.layers.length === 0;
    const selected = names.includes(this.host.selectedLayer) ? this.host.selectedLayer : '';
    if (this.layerSelect.value !== selected) this.layerSelect.value = selected;
    this.layerGrid.classList.toggle('single', selected !== '');
    const tau = run.config?.deadTau ?? 0.99;
    run.layers.forEach((layer, i) => {
      const card = this.cards.get(layer.info.name);
      if (!card) return;
      card.root.hidden = selected !== '' && selected !== layer.info.name;
      card.update(layer, tau);
      const row = this.overviewBody.rows[i];
      if (row) {
        row.classList.toggle('selected', selected === layer.info.name);
        const t = layer.latest;
        const cells = [
          formatPercent(t?.quantizationError, 1),
          formatPercent(t?.deadWeightRatio, 1),
          formatPercent(t?.flipRate, 3),
          formatPercent(t?.frozenRatio, 1),
          formatPercent(t?.signBalance, 1),
        ];
        cells.forEach((text, c) => setText(row.cells[c + 1], text));
      }
    });
  }

  private rebuildLayers(run: RunModel): void {
    for (const card of this.cards.values()) {
      card.unmount();
      card.root.remove();
    }
    this.cards = new Map();
    this.overviewBody.replaceChildren();
    this.resizeObserver.disconnect();
    this.resizeObserver.observe(this.lossHost);
    this.resizeObserver.observe(this.accuracyHost);

    const options = [el('vscode-option', undefined, 'All layers')];
    options[0].value = '';
    for (const layer of run.layers) {
      const name = layer.info.name;
      const option = el('vscode-option', undefined, name);
      option.value = name;
      options.push(option);

      const card = new LayerCard(name);
      this.layerGrid.append(card.root);
      card.mount(this.palette);
      card.observe(this.resizeObserver);
      this.cards.set(name, card);

      const row = el('tr');
      row.tabIndex = 0;
      row.title = 'Show only this layer (again: all layers)';
      const nameCell = el('td', 'layer-cell', name);
      row.append(nameCell);
      for (let c = 0; c < 5; c++) row.append(el('td', 'num', MISSING));
      const toggle = (): void => {
        this.host.onSelectLayer(this.host.selectedLayer === name ? '' : name);
      };
      row.addEventListener('click', toggle);
      row.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          toggle();
        }
      });
      this.overviewBody.append(row);
    }
    this.layerSelect.replaceChildren(...options);
    this.layerSelect.hidden = run.layers.length < 2;
  }
}
