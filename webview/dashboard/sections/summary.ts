/**
 * The side view's summary (shown in the narrow side-bar layout only): a loss and training-accuracy
 * sparkline with their latest values, and a button that opens the full dashboard in an editor
 * tab. With the header's status, the progress line, the stats strip and the Watch list it makes
 * the live summary a user reads at 300 px.
 */
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import { formatLoss, formatPercent } from '../../../core/format';
import { el, setText } from '../../shared/dom';
import type { SectionContext } from '../context';
import { SPARKLINE_HEIGHT, SPARKLINE_WIDTH, sparklinePoints } from '../sparkline';
import { TRAINING_CHANNELS, type RunModel } from '../state';

const SVG = 'http://www.w3.org/2000/svg';

export class SummarySection {
  readonly root = el('section', 'side-summary');
  private readonly svg = document.createElementNS(SVG, 'svg');
  private readonly loss = document.createElementNS(SVG, 'polyline');
  private readonly accuracy = document.createElementNS(SVG, 'polyline');
  private readonly caption = el('div', 'sparkline-caption');
  private readonly open = el('vscode-button') as VscodeButton;
  private key = '';

  constructor(private readonly ctx: SectionContext) {
    this.svg.setAttribute('class', 'sparkline');
    this.svg.setAttribute('viewBox', `0 0 ${SPARKLINE_WIDTH} ${SPARKLINE_HEIGHT}`);
    this.svg.setAttribute('preserveAspectRatio', 'none');
    this.svg.setAttribute('role', 'img');
    this.loss.setAttribute('class', 'sparkline-loss');
    this.accuracy.setAttribute('class', 'sparkline-accuracy');
    for (const line of [this.loss, this.accuracy]) {
      line.setAttribute('fill', 'none');
      line.setAttribute('stroke-width', '1.5');
      line.setAttribute('vector-effect', 'non-scaling-stroke');
    }
    this.svg.append(this.loss, this.accuracy);
    this.open.textContent = 'Open in Editor';
    this.open.className = 'open-editor';
    this.open.secondary = true;
    this.open.title = 'Show this dashboard full width in an editor tab (BNN Lab: Open Dashboard)';
    this.open.addEventListener('click', () => ctx.command('openDashboard'));
    this.root.append(this.svg, this.caption, this.open);
  }

  render(run: RunModel | undefined): void {
    this.root.hidden = run === undefined;
    if (!run) return;
    const { x, y } = run.training;
    const loss = y[TRAINING_CHANNELS.indexOf('loss')];
    const accuracy = y[TRAINING_CHANNELS.indexOf('accuracy')];
    const palette = this.ctx.palette;
    const key = `${run.runId}\n${x.length}\n${x.at(-1)}\n${palette.blue}\n${palette.green}`;
    if (key === this.key) return;
    this.key = key;
    this.loss.setAttribute('stroke', palette.blue);
    this.accuracy.setAttribute('stroke', palette.green);
    this.loss.setAttribute('points', sparklinePoints(x, loss));
    this.accuracy.setAttribute('points', sparklinePoints(x, accuracy, [0, 1]));
    const latest = run.latest;
    const text = latest
      ? `loss ${formatLoss(latest.loss)} · train accuracy ${formatPercent(latest.accuracy)}`
      : 'loss and training accuracy appear with the first step';
    setText(this.caption, text);
    this.svg.setAttribute(
      'aria-label',
      `Loss (blue, own scale) and training accuracy (green, 0 to 100%) over ${x.length} reports; ${text}`,
    );
  }
}
