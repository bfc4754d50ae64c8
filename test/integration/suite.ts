/**
 * Loaded by VS Code's extension host (see run.ts): activates BNN Lab and checks that every
 * contributed command is registered and that the dashboard opens. VS Code calls `run` and fails
 * the test run when it rejects; no test framework is needed for a suite this small.
 */
import assert from 'node:assert/strict';
import * as vscode from 'vscode';

const EXTENSION_ID = 'bnn-lab.bnn-lab';

interface Contributes {
  commands: { command: string }[];
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
    'Open Dashboard and Show Log run without errors',
    async () => {
      await vscode.commands.executeCommand('bnnLab.openDashboard');
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
