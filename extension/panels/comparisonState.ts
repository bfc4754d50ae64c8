/**
 * Which runs the dashboard compares, and when that ends: a comparison belongs to the run in view
 * it was made for. Another run starting, or another run opened, ends it unless the user pinned
 * it. No `vscode` here, so the rules are unit-tested (test/unit/extension/comparisonState.test.ts).
 */
import type { ComparedRun, ToWebview } from '../../core/protocol';

export class ComparisonState {
  private runs: ComparedRun[] = [];
  private pinned = false;
  /** The folder of the run in view the comparison was made for. */
  private baseDir: string | undefined;

  get active(): boolean {
    return this.runs.length > 0;
  }

  get isPinned(): boolean {
    return this.pinned;
  }

  /** The compared runs' folders. */
  get dirs(): string[] {
    return this.runs.map((r) => r.run.dir);
  }

  /** The compared run in `dir`, if any. */
  find(dir: string): ComparedRun | undefined {
    return this.runs.find((r) => r.run.dir === dir);
  }

  /** Compares `runs` with the run in `baseDir`, replacing any comparison (pinning is kept). */
  set(baseDir: string | undefined, runs: readonly ComparedRun[]): void {
    this.baseDir = baseDir;
    this.runs = [...runs];
    if (this.runs.length === 0) this.pinned = false;
  }

  /** Renames the compared runs (a run was labelled). */
  rename(nameOf: (dir: string, runId: string) => string): void {
    this.runs = this.runs.map((c) => ({
      ...c,
      run: { ...c.run, name: nameOf(c.run.dir, c.run.runId) },
    }));
  }

  pin(pinned: boolean): void {
    this.pinned = pinned && this.active;
  }

  clear(): void {
    this.set(undefined, []);
  }

  /** A run started: an unpinned comparison ends. @returns true when it ended. */
  runStarted(): boolean {
    if (!this.active || this.pinned) return false;
    this.clear();
    return true;
  }

  /** The run in `dir` was opened: an unpinned comparison made for another run ends. */
  runOpened(dir: string): boolean {
    if (!this.active || this.pinned || dir === this.baseDir) return false;
    this.clear();
    return true;
  }

  message(): Extract<ToWebview, { kind: 'comparison' }> {
    return { kind: 'comparison', runs: this.runs, pinned: this.pinned };
  }
}
