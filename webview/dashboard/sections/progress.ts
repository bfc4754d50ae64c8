/**
 * The progress bar and its line: epoch, step, backend, dataset and seed; before the first step,
 * what the run is doing (a fine-tune's evaluation of its source, the LNS mapper warm-up).
 */
import { el, setText } from '../../shared/dom';
import { formatInteger, formatPhase } from '../../../core/format';
import { progressOf, type RunModel } from '../state';

export class ProgressSection {
  readonly root = el('div', 'progress');
  private readonly fill = el('div', 'progress-fill');
  private readonly text = el('div', 'progress-text');

  constructor() {
    const track = el('div', 'progress-track');
    track.append(this.fill);
    this.root.append(track, this.text);
  }

  render(run: RunModel): void {
    const { step, fraction } = progressOf(run);
    // A transform, not a width: no layout of the page on every report.
    this.fill.style.transform = `scaleX(${fraction.toFixed(4)})`;
    this.root.dataset.status = run.status;
    const epochs = run.config?.epochs;
    const epoch = run.latest?.epoch ?? run.epochs.at(-1)?.epoch;
    const phase = run.phase && !run.latest ? formatPhase(run.phase) : undefined;
    this.root.dataset.phase = phase ? run.phase?.phase : '';
    const parts = [
      epoch !== undefined
        ? `Epoch ${epoch}${epochs ? ` / ${epochs}` : ''}`
        : phase
          ? `${phase.charAt(0).toUpperCase()}${phase.slice(1)}`
          : 'Starting…',
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
    setText(this.text, parts.join(' · '));
    this.text.title = run.backend?.skipped.length
      ? `Skipped backends: ${run.backend.skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}`
      : '';
  }
}
