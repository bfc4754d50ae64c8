/** What the page shows before any run: how to start one, or why training is unavailable. */
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import { el, setText } from '../../shared/dom';
import type { SectionContext } from '../context';

export class EmptyState {
  readonly root = el('section', 'empty-state');
  private readonly title = el('h2', 'empty-title');
  private readonly text = el('p', 'empty-text');
  private readonly button = el('vscode-button') as VscodeButton;

  constructor(ctx: SectionContext) {
    this.button.textContent = 'Train BNN';
    this.button.addEventListener('click', () => ctx.command('train'));
    this.root.append(this.title, this.text, this.button);
  }

  render(trusted: boolean): void {
    if (trusted) {
      setText(this.title, 'No training run yet');
      setText(
        this.text,
        "Run 'BNN Lab: Train BNN' from the Command Palette, or start one here. " +
          'Loss, accuracy and per-layer telemetry appear live while it trains; ' +
          'finished runs open from the Runs view.',
      );
    } else {
      setText(this.title, 'Training needs a trusted workspace');
      setText(
        this.text,
        'This workspace is in Restricted Mode. Trust it to train BNNs; ' +
          'existing runs can still be viewed from the Runs view.',
      );
    }
    this.button.hidden = !trusted;
  }
}
