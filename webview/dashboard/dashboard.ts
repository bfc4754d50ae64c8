/**
 * DOM for the dashboard: composes the page from its sections (one file each under sections/,
 * owning its elements, build and render) and gives them the page-wide services: visibility,
 * change tracking, throttling, resizing and opening a layer's card.
 * All text goes through `textContent` (layer names come from user models, never from markup),
 * and no element gets a `style` attribute in markup: sizes are set through the CSSOM.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-radio/index.js';
import '@vscode-elements/elements/dist/vscode-radio-group/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import { el } from '../shared/dom';
import { readPalette, type Palette } from '../shared/theme';
import type { Command, DashboardHost, SectionContext } from './context';
import { BannerSection } from './sections/banners';
import { ComparisonSection } from './sections/comparison';
import { EmptyState } from './sections/emptyState';
import { FinetuneSection } from './sections/finetune';
import { HeaderSection } from './sections/header';
import { LayersSection } from './sections/layers';
import { ModelTableSection } from './sections/modelTable';
import { MultiplesSection } from './sections/multiples';
import { ProgressSection } from './sections/progress';
import { StatsSection } from './sections/stats';
import { SummarySection } from './sections/summary';
import { TrainingSection } from './sections/training';
import type { DashboardModel } from './state';

export type { DashboardHost } from './context';

/** The whole panel. `render` is cheap when nothing changed; call it once per frame at most. */
export class Dashboard implements SectionContext {
  palette: Palette = readPalette();
  private readonly runView = el('main', 'run-view');
  private readonly header: HeaderSection;
  private readonly progress: ProgressSection;
  private readonly banners: BannerSection;
  private readonly empty: EmptyState;
  private readonly stats: StatsSection;
  private readonly summary: SummarySection;
  private readonly comparison: ComparisonSection;
  private readonly training: TrainingSection;
  private readonly finetune: FinetuneSection;
  private readonly multiples: MultiplesSection;
  private readonly table: ModelTableSection;
  private readonly layers: LayersSection;
  /** Per throttled part: what it last drew for, when, and a pending catch-up render. */
  private readonly throttles = new Map<
    string,
    { key: string; time: number; timer: number | undefined }
  >();
  private rendered = new WeakMap<object, unknown>();
  /** Run, status and layer cards last reported to the host (`rendered`). */
  private renderedKey = '';
  private readonly resizeObserver: ResizeObserver;
  /** Charts and the table off screen are not redrawn; they catch up when scrolled back. */
  private readonly sectionVisibility: IntersectionObserver;
  private readonly offScreen = new WeakSet<Element>();
  private resizePending = false;
  private model: DashboardModel | undefined;

  constructor(
    private readonly root: HTMLElement,
    readonly host: DashboardHost,
  ) {
    this.resizeObserver = new ResizeObserver(() => this.scheduleResize());
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
    this.header = new HeaderSection(this);
    this.progress = new ProgressSection();
    this.banners = new BannerSection(this);
    this.empty = new EmptyState(this);
    this.stats = new StatsSection(this);
    this.summary = new SummarySection(this);
    this.comparison = new ComparisonSection(this);
    this.training = new TrainingSection(this);
    this.finetune = new FinetuneSection();
    this.multiples = new MultiplesSection(this);
    this.table = new ModelTableSection(this);
    this.layers = new LayersSection(this, () => this.scheduleResize());
    this.runView.append(
      this.stats.stats,
      this.stats.watch,
      this.training.root,
      this.comparison.root,
      this.finetune.root,
      this.multiples.root,
      this.table.root,
      this.layers.root,
    );
    this.root.append(
      this.header.root,
      this.progress.root,
      this.summary.root,
      this.banners.banner,
      this.banners.notice,
      this.empty.root,
      this.runView,
    );
  }

  get runIdText(): string {
    return this.model?.run?.runId ?? 'bnn-lab';
  }

  command(command: Command): void {
    this.host.post({ kind: 'command', command });
  }

  visible(element: Element): boolean {
    return !this.offScreen.has(element);
  }

  observeVisibility(element: Element): void {
    this.sectionVisibility.observe(element);
  }

  observeSize(element: Element): void {
    this.resizeObserver.observe(element);
  }

  changed(slot: object, value: unknown): boolean {
    if (this.rendered.get(slot) === value) return false;
    this.rendered.set(slot, value);
    return true;
  }

  forget(slot: object): void {
    this.rendered.delete(slot);
  }

  throttle(name: string, key: string, intervalMs: number): boolean {
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

  /** Click-through from a chart or the table: show that layer's card and move focus to it. */
  openLayer(name: string): void {
    this.host.updateView({ selectedLayer: name });
    requestAnimationFrame(() => {
      const card = this.layers.card(name);
      if (!card) return;
      card.root.scrollIntoView({ block: 'start' });
      card.root.focus({ preventScroll: true });
    });
  }

  /** Shows a problem of the panel itself (a malformed message) instead of going blank. */
  showError(message: string): void {
    this.banners.showError(message);
  }

  /** Recreates every chart with the current theme colours. */
  applyTheme(): void {
    this.palette = readPalette();
    this.comparison.destroyCharts();
    this.training.destroyCharts();
    this.multiples.destroyCharts();
    this.rendered = new WeakMap();
    this.layers.applyTheme(this.palette);
    if (this.model) this.render(this.model);
  }

  private scheduleResize(): void {
    if (this.resizePending) return;
    this.resizePending = true;
    requestAnimationFrame(() => {
      this.resizePending = false;
      this.comparison.resize();
      this.training.resize();
      this.multiples.resize();
      this.layers.resize();
    });
  }

  /** Brings the DOM in line with `model`. */
  render(model: DashboardModel): void {
    this.model = model;
    const run = model.run;
    this.header.render(model);
    this.banners.render(model);
    this.empty.root.hidden = !model.connected || run !== undefined;
    this.runView.hidden = run === undefined;
    this.progress.root.hidden = run === undefined;
    this.summary.render(model.connected ? run : undefined);
    if (!model.connected) {
      this.root.setAttribute('aria-busy', 'true');
      return;
    }
    this.root.removeAttribute('aria-busy');
    if (!run) {
      this.empty.render(model.trusted);
      return;
    }
    this.progress.render(run);
    this.stats.render(run);
    this.comparison.render(run, model.compare, model.comparePinned);
    this.training.render(run, model.compare);
    this.finetune.render(run);
    this.multiples.render(run);
    this.table.render(run);
    this.layers.render(run, model.compare);
    const layerCards = this.layers.cardNames();
    const renderedKey = `${run.runId}\n${run.status}\n${layerCards.join('\n')}`;
    if (renderedKey !== this.renderedKey) {
      this.renderedKey = renderedKey;
      this.host.post({ kind: 'rendered', runId: run.runId, status: run.status, layerCards });
    }
  }
}
