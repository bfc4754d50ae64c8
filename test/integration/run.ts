/**
 * Runs test/integration/suite.ts inside a real VS Code desktop with @vscode/test-electron, which
 * downloads VS Code first (so this needs a desktop with internet; offline CI uses test/e2e with
 * code-server instead). `npm run test:vscode` after `npm run build` and `npx tsc -p test`.
 */
import * as path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runTests } from '@vscode/test-electron';

// Compiled to out/test/integration/; the extension (package.json, dist/) is the repo root.
const REPO = path.resolve(__dirname, '../../..');

async function main(): Promise<void> {
  const workspace = mkdtempSync(path.join(tmpdir(), 'bnn-lab-integration-'));
  try {
    await runTests({
      extensionDevelopmentPath: REPO,
      extensionTestsPath: path.join(__dirname, 'suite'),
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
    });
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error('VS Code integration tests failed:', e);
  process.exit(1);
});
