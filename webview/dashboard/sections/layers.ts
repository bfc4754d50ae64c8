/**
 * The Binary layers section: one card per binary layer, a layer picker and the histogram
 * over-time mode. Cards off screen skip drawing and catch up when scrolled into view.
 */
import type { VscodeRadio } from '@vscode-elements/elements/dist/vscode-radio/vscode-radio.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import { el, setText } from '../../shared/dom';
import type { Palette } from '../../shared/theme';
import { runColor } from '../comparison';
import type { SectionContext } from '../context';
import type { RunModel } from '../state';
import { LayerCard } from './layerCard';

export class LayersSection {
  readonly root = el('section', 'section');
  private readonly title = el('h2', 'section-title', 'Binary layers');
  private readonly select = el('vscode-single-select') as VscodeSingleSelect;
  private readonly modeRadios = new Map<string, VscodeRadio>();
  private readonly empty = el(
    'p',
    'layers-empty',
    'Per-layer telemetry (histograms, quantization error, dead weights, flips) appears with the first report.',
  );
  private readonly grid = el('div', 'layer-grid');
  private cards = new Map<string, LayerCard>();
  private key = '';
  private readonly resizeObserver: ResizeObserver;
  private readonly visibility: IntersectionObserver;

  constructor(
    private readonly ctx: SectionContext,
    onResize: () => void,
  ) {
    this.resizeObserver = new ResizeObserver(onResize);
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
    const head = el('div', 'section-head');
    this.select.setAttribute('aria-label', 'Layer');
    this.select.addEventListener('change', () => {
      ctx.host.updateView({ selectedLayer: this.select.value });
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
        if (radio.checked) ctx.host.updateView({ overTimeMode: value });
      });
      this.modeRadios.set(value, radio);
      modes.append(radio);
    }
    head.append(this.title, el('span', 'spacer'), modes, this.select);
    this.root.append(head, this.empty, this.grid);
  }

  /** The card of layer `name`, once the run has reported it. */
  card(name: string): LayerCard | undefined {
    return this.cards.get(name);
  }

  /** The layers that have a card, in model order. */
  cardNames(): string[] {
    return [...this.cards.keys()];
  }

  /** Redraws every card with the theme's new colours. */
  applyTheme(palette: Palette): void {
    for (const card of this.cards.values()) card.mount(palette);
  }

  resize(): void {
    for (const card of this.cards.values()) card.resize();
  }

  render(run: RunModel, compare: readonly RunModel[] = []): void {
    const names = run.layers.map((l) => l.info.name);
    const key = `${run.runId}\n${names.join('\n')}`;
    if (key !== this.key) {
      this.key = key;
      this.rebuild(run);
    }
    setText(this.title, `Binary layers (${run.layers.length})`);
    this.empty.hidden = run.layers.length > 0;
    const view = this.ctx.host.view;
    const selected = names.includes(view.selectedLayer) ? view.selectedLayer : '';
    if (this.select.value !== selected) this.select.value = selected;
    for (const [value, radio] of this.modeRadios) {
      const checked = value === view.overTimeMode;
      if (radio.checked !== checked) radio.checked = checked;
    }
    this.grid.classList.toggle('single', selected !== '');
    const tau = run.config?.deadTau ?? 0.99;
    const palette = this.ctx.palette;
    for (const layer of run.layers) {
      const card = this.cards.get(layer.info.name);
      if (!card) continue;
      card.root.hidden = selected !== '' && selected !== layer.info.name;
      // The same layer of each compared run (by name), in the run's colour.
      card.setComparison(
        compare.map((r, i) => ({
          name: r.name,
          color: runColor(palette, i + 1),
          layer: r.layers.find((l) => l.info.name === layer.info.name),
        })),
      );
      card.update(layer, tau, view.overTimeMode);
    }
  }

  private rebuild(run: RunModel): void {
    for (const card of this.cards.values()) {
      card.unmount();
      card.root.remove();
    }
    this.cards = new Map();
    this.resizeObserver.disconnect();
    this.visibility.disconnect();
    const options = [el('vscode-option', undefined, 'All layers')];
    options[0].value = '';
    for (const layer of run.layers) {
      const name = layer.info.name;
      const option = el('vscode-option', undefined, name);
      option.value = name;
      options.push(option);

      const card = new LayerCard(
        name,
        () => this.ctx.runIdText,
        (msg) => this.ctx.host.post(msg),
      );
      this.grid.append(card.root);
      card.mount(this.ctx.palette);
      card.observe(this.resizeObserver);
      this.visibility.observe(card.root);
      this.cards.set(name, card);
    }
    this.select.replaceChildren(...options);
    this.select.hidden = run.layers.length < 2;
  }
}
