/**
 * "Compare Runs…" (several runs at once) and "Label Run…" on the Runs view. "Compare With…"
 * (one run) is in commands/runs.ts; both end in DashboardViewProvider.compareWith.
 */
import * as vscode from 'vscode';
import { formatPercent, formatRunFacts } from '../../core/format';
import type { DashboardViewProvider } from '../panels/DashboardViewProvider';
import { runLabel, type RunItem, type RunsTreeProvider } from './RunsTreeProvider';
import { askRunLabel } from './runNames';

/** A quick-pick row for a run: its name and id, facts and accuracy, the folder. */
export function runPick(item: RunItem): vscode.QuickPickItem & { dir: string } {
  const { summary } = item;
  return {
    label: runLabel(item),
    description: [
      formatRunFacts(summary.config, summary.preset),
      summary.testAccuracy === null
        ? summary.status
        : `test ${formatPercent(summary.testAccuracy)}`,
    ]
      .filter((p) => p !== '')
      .join(' · '),
    detail: summary.dir,
    dir: summary.dir,
  };
}

/**
 * `bnnLab.compareRuns`: picks any number of runs to overlay on `base` (the run in view by
 * default); the runs compared now start checked. Picking none stops comparing.
 */
export async function compareRuns(
  runs: RunsTreeProvider,
  dashboard: DashboardViewProvider,
  base: string | undefined,
): Promise<void> {
  if (base && base !== dashboard.dirInView) await dashboard.openRun(base);
  const inView = dashboard.dirInView;
  await runs.getChildren();
  const compared = new Set(dashboard.comparedDirs);
  const picks = runs.runs.filter((r) => r.summary.dir !== inView).map(runPick);
  if (picks.length === 0) {
    void vscode.window.showInformationMessage(
      'BNN Lab: no other run in this workspace. Train one with "BNN Lab: Train BNN".',
    );
    return;
  }
  for (const p of picks) p.picked = compared.has(p.dir);
  const chosen = await vscode.window.showQuickPick(picks, {
    title: 'BNN Lab: Compare Runs — pick the runs to overlay on the one in view',
    canPickMany: true,
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!chosen) return;
  await dashboard.compareWith(chosen.map((c) => c.dir));
}

/** `bnnLab.labelRun`: names a run; the Runs view, dashboard and legends follow. */
export async function labelRun(
  runs: RunsTreeProvider,
  dashboard: DashboardViewProvider,
  dir: string | undefined,
): Promise<void> {
  const target = dir ?? dashboard.dirInView;
  if (!target) {
    void vscode.window.showInformationMessage('BNN Lab: no run to label. Train one first.');
    return;
  }
  if (!(await askRunLabel(target))) return;
  runs.refresh();
  await dashboard.refreshNames();
}
