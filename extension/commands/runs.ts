/**
 * Browsing runs: open a run in the dashboard, compare it with another, stop the active one.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatPercent } from '../engine/runProgress';
import type { RunItem } from '../views/RunsTreeProvider';
import type { Ctx } from './launcher';

/** A run folder from a Runs view item, a path, or a URI (commands may be run with any). */
export function runDirOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg instanceof vscode.Uri) return arg.fsPath;
  const item = arg as Partial<RunItem> | undefined;
  return typeof item?.summary?.dir === 'string' ? item.summary.dir : undefined;
}

async function pickRun(ctx: Ctx, title: string, exclude?: string): Promise<string | undefined> {
  await ctx.runs.getChildren();
  const picks = ctx.runs.runs
    .filter((r) => r.summary.dir !== exclude)
    .map((r) => ({
      label: r.summary.preset ? `${r.summary.preset} · ${r.summary.runId}` : r.summary.runId,
      description:
        r.summary.testAccuracy === null
          ? r.summary.status
          : `test ${formatPercent(r.summary.testAccuracy)}`,
      detail: r.summary.dir,
      dir: r.summary.dir,
    }));
  if (picks.length === 0) {
    void vscode.window.showInformationMessage(
      'BNN Lab: no other run in this workspace. Train one with "BNN Lab: Train BNN".',
    );
    return undefined;
  }
  return (await vscode.window.showQuickPick(picks, { title, matchOnDetail: true }))?.dir;
}

/** `bnnLab.openRun`: the run of a Runs view item, path or URI, else one picked. */
export async function openRun(ctx: Ctx, arg: unknown): Promise<void> {
  const dir = runDirOf(arg) ?? (await pickRun(ctx, 'BNN Lab: Open Run'));
  if (dir) await ctx.dashboard.openRun(dir);
}

/** `bnnLab.compareRun` ("Compare With…" on a run): opens it and overlays the run picked next. */
export async function compareRun(ctx: Ctx, arg: unknown): Promise<void> {
  const base = runDirOf(arg) ?? ctx.dashboard.dirInView;
  const other = await pickRun(
    ctx,
    `BNN Lab: Compare ${base ? path.basename(base) : 'the run in view'} With…`,
    base,
  );
  if (!other) return;
  if (base && base !== ctx.dashboard.dirInView) await ctx.dashboard.openRun(base);
  await ctx.dashboard.compareWith(other);
}

/** `bnnLab.stop`: cancels the active run and waits until it has ended. */
export async function stopRun(ctx: Ctx): Promise<void> {
  const ended = ctx.engine.cancel();
  if (!ended) {
    void vscode.window.showInformationMessage('BNN Lab: no training run is active.');
    return;
  }
  await ended;
}
