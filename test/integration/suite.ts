/**
 * Loaded by VS Code's extension host (see run.ts): the scenario of the code-server end-to-end
 * test (test/e2e), driven through the API instead of the mouse: activate BNN Lab, open the
 * dashboard, train a small mnist-cnn run with "BNN Lab: Train BNN", and check that the run
 * completes, that its telemetry covers every binary layer and that the side panel reports a card
 * for every binary layer of the run. VS Code calls `run` and fails the test run when it rejects.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { BINARY_LAYERS, RUN_CONFIG } from '../e2e/scenario';

const EXTENSION_ID = 'bnn-lab.bnn-lab';
interface Contributes {
  commands: { command: string }[];
}

interface Api {
  dashboardRendered(): { runId: string; status: string; layerCards: string[] } | undefined;
}

interface Record {
  event: string;
  status?: string;
  layers?: { name: string; binary?: boolean }[];
}

/** Polls `probe` every 250 ms until it returns a value. @throws after `ms` naming `what`. */
async function until<T>(what: string, ms: number, probe: () => T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function readRecords(dir: string): Record[] {
  return readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record);
}

const checks: [string, () => Promise<void>][] = [
  [
    'the extension activates',
    async () => {
      const ext = vscode.extensions.getExtension(EXTENSION_ID);
      assert.ok(ext, `${EXTENSION_ID} is not installed in the test instance`);
      await ext.activate();
      assert.equal(ext.isActive, true);
    },
  ],
  [
    'every contributed command is registered',
    async () => {
      const ext = vscode.extensions.getExtension(EXTENSION_ID);
      assert.ok(ext);
      const contributed = (
        ext.packageJSON as { contributes: Contributes }
      ).contributes.commands.map((c) => c.command);
      for (const id of ['bnnLab.train', 'bnnLab.stop', 'bnnLab.openDashboard', 'bnnLab.showLog']) {
        assert.ok(contributed.includes(id), `${id} is not contributed`);
      }
      const registered = new Set(await vscode.commands.getCommands(true));
      const missing = contributed.filter((id) => !registered.has(id));
      assert.deepEqual(missing, [], 'contributed commands without a registration');
    },
  ],
  [
    'Train BNN trains mnist-cnn and the side panel shows every binary layer',
    async () => {
      const ext = vscode.extensions.getExtension<Api>(EXTENSION_ID);
      assert.ok(ext);
      const api = ext.exports;
      const workspace = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      assert.ok(workspace, 'run.ts opens a workspace folder');
      await vscode.commands.executeCommand('bnnLab.openDashboard');
      await vscode.commands.executeCommand('bnnLab.train', RUN_CONFIG);

      const runs = path.join(workspace, '.bnn-lab', 'runs');
      const dir = await until('the run folder', 60_000, () => {
        const names = existsSync(runs) ? readdirSync(runs) : [];
        return names.length > 0 ? path.join(runs, names[0]) : undefined;
      });
      const records = await until('the run to end', 10 * 60_000, () => {
        if (!existsSync(path.join(dir, 'metrics.jsonl'))) return undefined;
        const all = readRecords(dir);
        return all[all.length - 1]?.event === 'done' ? all : undefined;
      });
      assert.equal(records[records.length - 1].status, 'completed', 'the run completed');
      const binary = (records[0].layers ?? []).filter((l) => l.binary).map((l) => l.name);
      assert.deepEqual(binary, BINARY_LAYERS, 'the start record lists the binary layers');
      const steps = records.filter((r) => r.event === 'step');
      assert.ok(steps.length > 0, 'step records were written');
      for (const step of steps) {
        assert.deepEqual(
          (step.layers ?? []).map((l) => l.name),
          BINARY_LAYERS,
          'every step record has telemetry for every binary layer',
        );
      }
      const runId = path.basename(dir);
      const rendered = await until('the dashboard to show the finished run', 60_000, () => {
        const r = api.dashboardRendered();
        return r && r.runId === runId && r.status === 'completed' ? r : undefined;
      });
      assert.deepEqual(rendered.layerCards, BINARY_LAYERS, 'a card for every binary layer');
    },
  ],
  [
    'Show Log runs without errors',
    async () => {
      await vscode.commands.executeCommand('bnnLab.showLog');
    },
  ],
];

export async function run(): Promise<void> {
  const failures: string[] = [];
  for (const [name, check] of checks) {
    try {
      await check();
      console.log(`ok - ${name}`);
    } catch (e) {
      console.error(`not ok - ${name}\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      failures.push(name);
    }
  }
  if (failures.length > 0) {
    throw new Error(`${failures.length} of ${checks.length} checks failed: ${failures.join('; ')}`);
  }
}
