/** The toolbar: preset name, run id, status badge, Export CSV and Train/Stop. */
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import { el, setText } from '../../shared/dom';
import type { SectionContext } from '../context';
import { exportFileName, runCsv } from '../export';
import type { DashboardModel } from '../state';

export class HeaderSection {
  readonly root = el('header', 'toolbar');
  private readonly title = el('h1', 'run-title', 'BNN Lab');
  private readonly runId = el('span', 'run-id');
  private readonly badge = el('span', 'status-badge');
  private readonly csvButton = el('vscode-button') as VscodeButton;
  private readonly actionButton = el('vscode-button') as VscodeButton;
  private model: DashboardModel | undefined;

  constructor(private readonly ctx: SectionContext) {
    const titleBlock = el('div', 'title-block');
    titleBlock.append(this.title, this.runId);
    this.badge.hidden = true;
    this.actionButton.addEventListener('click', () => {
      const running = this.model?.run?.status === 'running';
      ctx.command(running ? 'stop' : 'train');
    });
    this.csvButton.textContent = 'Export CSV';
    this.csvButton.secondary = true;
    this.csvButton.className = 'csv-button';
    this.csvButton.title = "Save the run's metrics (one row per report, a column per layer metric)";
    this.csvButton.addEventListener('click', () => this.exportCsv());
    this.actionButton.className = 'action-button';
    this.root.append(
      titleBlock,
      this.badge,
      el('span', 'spacer'),
      this.csvButton,
      this.actionButton,
    );
  }

  render(model: DashboardModel): void {
    this.model = model;
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

  private exportCsv(): void {
    const run = this.model?.run;
    if (!run) return;
    this.ctx.host.post({
      kind: 'export',
      format: 'csv',
      name: exportFileName(run.runId, 'metrics', 'csv'),
      data: runCsv(run),
    });
  }
}
