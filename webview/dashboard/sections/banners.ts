/**
 * The run's banner (failed, cancelled, Restricted Mode, or a problem of the panel itself) and
 * the notice of input problems (skipped lines, a deleted run folder).
 */
import { el, setText } from '../../shared/dom';
import { cancelledText } from '../../shared/runMessages';
import type { SectionContext } from '../context';
import { progressOf, skippedNotice, type DashboardModel } from '../state';

export class BannerSection {
  readonly banner = el('div', 'banner');
  readonly notice = el('div', 'banner notice');
  private readonly bannerText = el('span', 'banner-text');
  private readonly showLog = el('a', 'banner-link', 'Show Log');
  private readonly noticeText = el('span', 'banner-text');

  constructor(ctx: SectionContext) {
    this.showLog.href = '#';
    this.showLog.addEventListener('click', (e) => {
      e.preventDefault();
      ctx.command('showLog');
    });
    this.banner.setAttribute('role', 'status');
    this.banner.append(this.bannerText, this.showLog);
    this.notice.setAttribute('role', 'status');
    this.notice.dataset.kind = 'warning';
    this.notice.append(this.noticeText);
  }

  render(model: DashboardModel): void {
    this.renderBanner(model);
    this.renderNotice(model);
  }

  /** Shows a problem of the panel itself (a malformed message) instead of going blank. */
  showError(message: string): void {
    this.banner.hidden = false;
    this.banner.dataset.kind = 'error';
    this.showLog.hidden = false;
    setText(this.bannerText, `The dashboard could not update: ${message}`);
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
    for (const gone of model.compare.filter((r) => r.missing)) {
      parts.push(`The compared run folder ${gone.dir} was deleted.`);
    }
    const skipped = run && skippedNotice(run);
    if (skipped) parts.push(skipped);
    this.notice.hidden = parts.length === 0;
    this.notice.dataset.missing = run?.missing ? 'true' : 'false';
    setText(this.noticeText, parts.join(' '));
  }
}
