/**
 * The command table: every command the extension contributes from here, by id, each a named
 * handler in the file of its group (train, finetune, runs, export, external runs, native
 * TensorFlow), registered behind the one error wrapper (extension/errors.ts).
 */
import * as vscode from 'vscode';
import { type Cmd, registerCommand } from '../errors';
import { log } from '../log';
import { FINETUNE_COMMAND, finetuneCheckpoint } from './finetune';
import type { Ctx } from './launcher';
import { compareRuns, labelRun } from '../views/compareRuns';
import { compareRun, openRun, runDirOf, stopRun } from './runs';
import { TRAIN_COMMAND, train } from './train';

export type { Ctx } from './launcher';
// The wrapper stays importable from here for code that registers its own commands.
export { registerCommand, reportError, showErrorWithLog } from '../errors';

/** Every command of the run group, by id. */
export const COMMANDS: Record<string, (ctx: Ctx) => Cmd> = {
  [TRAIN_COMMAND]: (ctx) => (arg) => train(ctx, arg),
  'bnnLab.stop': (ctx) => () => stopRun(ctx),
  'bnnLab.openDashboard': (ctx) => () => ctx.dashboard.showPanel(),
  'bnnLab.showLog': () => () => log.show(),
  'bnnLab.openRun': (ctx) => (arg) => openRun(ctx, arg),
  'bnnLab.compareRun': (ctx) => (arg) => compareRun(ctx, arg),
  'bnnLab.compareRuns': (ctx) => (arg) => compareRuns(ctx.runs, ctx.dashboard, runDirOf(arg)),
  'bnnLab.labelRun': (ctx) => (arg) => labelRun(ctx.runs, ctx.dashboard, runDirOf(arg)),
  'bnnLab.refreshRuns': (ctx) => () => ctx.runs.refresh(),
  [FINETUNE_COMMAND]: (ctx) => (arg) => finetuneCheckpoint(ctx, arg),
};

/** Registers every command of `COMMANDS` behind the error wrapper. */
export function registerCommands(ctx: Ctx): vscode.Disposable[] {
  return Object.entries(COMMANDS).map(([id, factory]) => registerCommand(id, factory(ctx)));
}
