/**
 * End to end in a real VS Code: code-server (VS Code's server and web client, installed offline by
 * tools/vscode-e2e/setup-code-server.sh) with the packaged bnn-lab.vsix, driven in
 * Debian's Chromium by playwright-core. Trains the small mnist-cnn config from the Command Palette
 * and checks the status bar, the dashboard webview (a card per binary layer, completed status,
 * test accuracy) and the run folder on disk, then opens the run's checkpoint in the checkpoint
 * inspector and follows its checkpoints folder with Analyse Checkpoint Folder (watch) while a new
 * epoch folder appears. Last, it opens the extension's details page (every README image must
 * load) and runs `bnn-lab --version` in an integrated terminal. Screenshots land in out/e2e/; with
 * BNN_LAB_UPDATE_README_SHOT=1 the finished dashboard and the inspector are also copied to
 * docs/images/vscode-dashboard.png and vscode-inspector.png for the README (off by default: a
 * test run leaves the tree clean).
 *
 * Needs `npm run package` first. Progress goes to stderr; code-server's output to
 * out/e2e/code-server.log, and on failure VS Code's logs to out/e2e/logs/.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { get } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { BINARY_LAYERS, BINARY_PARAMS, RUN_CONFIG } from './scenario';
import { addPthToWorkspace, checkExplorerOpensInspector } from './explorerInspector';

const REPO = path.resolve(__dirname, '../../..');
const SETUP = path.join(REPO, 'tools', 'vscode-e2e', 'setup-code-server.sh');
const VSIX = path.join(REPO, 'bnn-lab.vsix');
const OUT = path.join(REPO, 'out', 'e2e');
const README_SHOT = path.join(REPO, 'docs', 'images', 'vscode-dashboard.png');
const README_INSPECTOR_SHOT = path.join(REPO, 'docs', 'images', 'vscode-inspector.png');
const CHROMIUM = '/usr/bin/chromium';
const EXTENSION_ID = 'bnn-lab.bnn-lab';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
/** A first install of code-server builds native modules: minutes on a busy machine. */
const SETUP_TIMEOUT = 20 * MINUTE;
/** Everything after the install: start, UI, one small training run, checks. */
const RUN_TIMEOUT = 10 * MINUTE;

const started = Date.now();
function progress(message: string): void {
  const t = ((Date.now() - started) / SECOND).toFixed(1);
  process.stderr.write(`[vscode e2e +${t}s] ${message}\n`);
}

/** Runs a program; rejects with its output when it fails or runs past `timeout`. */
function run(
  file: string,
  args: string[],
  timeout: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, env },
      (error, stdout, stderr) => {
        if (error) {
          const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-30).join('\n');
          reject(
            new Error(`${path.basename(file)} ${args.join(' ')} failed: ${error.message}\n${tail}`),
          );
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get(url, { timeout: 2 * SECOND }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A deadline for `Promise.race` that does not keep the process alive once the race is won. */
const deadline = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** Polls `check` until it returns a value other than undefined, or fails naming `what`. */
async function until<T>(
  what: string,
  timeout: number,
  check: () => Promise<T | undefined>,
  interval = 250,
): Promise<T> {
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeout / SECOND}s waiting for ${what}${why}`);
    }
    await sleep(interval);
  }
}

/** Everything that must be undone whatever happens: browser, server process group, temp dir. */
class Resources {
  browser: Browser | undefined;
  server: ChildProcess | undefined;
  serverExited: Promise<void> | undefined;
  tmp: string | undefined;
  keepTmp = false;

  /** Synchronous last resort when the process exits without running `release`. */
  killServerNow(): void {
    const pid = this.server?.pid;
    if (pid === undefined || this.server?.exitCode !== null || this.server.signalCode !== null) {
      return;
    }
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  async release(): Promise<void> {
    const browser = this.browser;
    this.browser = undefined;
    if (browser) {
      progress('closing Chromium');
      await Promise.race([browser.close().catch(() => undefined), deadline(15 * SECOND)]);
    }
    const server = this.server;
    if (server?.pid !== undefined && server.exitCode === null && server.signalCode === null) {
      progress('stopping code-server');
      const pid = server.pid;
      const signal = (s: NodeJS.Signals) => {
        try {
          process.kill(-pid, s); // the whole group: server, extension host, pty host
        } catch {
          // already gone
        }
      };
      signal('SIGTERM');
      const exited = await Promise.race([
        this.serverExited?.then(() => true),
        deadline(10 * SECOND).then(() => false),
      ]);
      // Helpers of the group may outlive the server itself; SIGKILL whatever is left.
      signal('SIGKILL');
      if (!exited) progress('code-server did not exit on SIGTERM; killed');
    }
    this.server = undefined;
    if (this.tmp) {
      if (this.keepTmp) {
        progress(`kept ${this.tmp} for inspection`);
      } else {
        rmSync(this.tmp, { recursive: true, force: true, maxRetries: 3 });
      }
      this.tmp = undefined;
    }
  }
}

const resources = new Resources();
process.on('exit', () => resources.killServerNow());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    resources.killServerNow();
    if (resources.tmp) rmSync(resources.tmp, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}
after(() => resources.release());

/**
 * Runs setup-code-server.sh with its stderr passed through (a first install takes minutes and
 * CI logs should show where it is); resolves with its stdout.
 */
function runSetup(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SETUP], {
      detached: true, // own group: a timeout stops npm and node-gyp below it too
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        // already gone
      }
      reject(new Error(`setup-code-server.sh ran past ${SETUP_TIMEOUT / MINUTE} min`));
    }, SETUP_TIMEOUT);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`setup-code-server.sh failed (${code ?? signal}); its log is above`));
    });
  });
}

/** Runs the repository's setup script and returns the code-server launcher from its last line. */
async function setupCodeServer(): Promise<string> {
  assert.ok(existsSync(SETUP), `missing ${SETUP}: the repository checkout is incomplete`);
  progress(
    `running ${path.relative(REPO, SETUP)} (a first install takes minutes; later runs reuse it)`,
  );
  const stdout = await runSetup();
  const lines = stdout.trim().split('\n');
  const launcher = lines[lines.length - 1]?.trim() ?? '';
  assert.ok(
    launcher && existsSync(launcher),
    `setup-code-server.sh did not print an existing launcher path last (got "${launcher}")`,
  );
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing after setup-code-server.sh`);
  progress(`code-server: ${launcher}`);
  return launcher;
}

function writeJson(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** The workspace folder, plus user settings that keep the workbench quiet and predictable. */
function prepareFolders(tmp: string): { workspace: string; ext: string; data: string } {
  const workspace = path.join(tmp, 'workspace');
  const ext = path.join(tmp, 'ext');
  const data = path.join(tmp, 'data');
  writeJson(path.join(workspace, 'small.bnn.json'), RUN_CONFIG);
  // Run configs Train BNN refuses before a run folder exists: a typo'd key, a missing dataset.
  writeJson(path.join(workspace, 'typo.bnn.json'), { ...RUN_CONFIG, learningrate: 0.01 });
  writeJson(path.join(workspace, 'nodata.bnn.json'), {
    ...RUN_CONFIG,
    dataset: { name: 'idx', path: 'no-such-folder' },
  });
  addPthToWorkspace(REPO, workspace); // issue 15: the Explorer opens it in the inspector
  // Workspace settings that change nothing for the run: trust comes from the server flag.
  writeJson(path.join(workspace, '.vscode', 'settings.json'), {
    'files.exclude': { '**/.bnn-lab': false },
  });
  writeJson(path.join(data, 'User', 'settings.json'), {
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'security.workspace.trust.enabled': false,
    'window.commandCenter': false,
    // The DOM renderer, so the test reads the terminal's text from the page.
    'terminal.integrated.gpuAcceleration': 'off',
    'chat.commandCenter.enabled': false,
  });
  mkdirSync(ext, { recursive: true });
  return { workspace, ext, data };
}

async function startCodeServer(
  launcher: string,
  folders: { workspace: string; ext: string; data: string },
  tmp: string,
): Promise<number> {
  const port = await freePort();
  const logFile = path.join(OUT, 'code-server.log');
  const fd = openSync(logFile, 'w');
  const args = [
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--extensions-dir',
    folders.ext,
    '--user-data-dir',
    folders.data,
    '--config',
    path.join(tmp, 'code-server.yaml'),
    folders.workspace,
  ];
  progress(`starting code-server on 127.0.0.1:${port} (log: ${path.relative(REPO, logFile)})`);
  const server = spawn(launcher, args, {
    detached: true, // own process group, so cleanup reaches the extension host too
    stdio: ['ignore', fd, fd],
    env: { ...process.env, XDG_CONFIG_HOME: path.join(tmp, 'config') },
  });
  closeSync(fd);
  resources.server = server;
  resources.serverExited = new Promise((resolve) => server.once('exit', () => resolve()));
  const exitedEarly = () =>
    server.exitCode !== null || server.signalCode !== null
      ? `code-server exited (${server.exitCode ?? server.signalCode}):\n${tail(logFile)}`
      : undefined;
  await until('code-server to answer HTTP', 2 * MINUTE, async () => {
    const early = exitedEarly();
    if (early) throw new Error(early);
    return (await httpStatus(`http://127.0.0.1:${port}/healthz`)) === 200 ? true : undefined;
  }).catch((e: Error) => {
    throw new Error(exitedEarly() ?? `${e.message}\n${tail(logFile)}`);
  });
  progress('code-server answers');
  return port;
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file });
  progress(`screenshot ${path.relative(REPO, file)}`);
  return file;
}

/** Runs a command by its palette title: F1, type, pick the row with exactly that title. */
async function runCommand(page: Page, title: string): Promise<void> {
  progress(`command palette: ${title}`);
  const input = page.locator('.quick-input-widget .quick-input-box input');
  const row = page
    .locator('.quick-input-list .monaco-list-row')
    .filter({ has: page.locator('.label-name', { hasText: title }) })
    .first();
  // A keystroke can land where the workbench never sees it (an iframe that is being torn down, a
  // webview that just lost its editor), so take focus back to the workbench and try again; CI
  // once saw F1 and Ctrl+Shift+P both ignored right after a save dialog closed.
  let focusedAt = '';
  for (let attempt = 0; ; attempt++) {
    focusedAt = await page.evaluate(() => {
      const active = document.activeElement as HTMLElement | null;
      const where = active ? `${active.tagName.toLowerCase()}.${active.className}` : 'nothing';
      if (active && active !== document.body) active.blur();
      return where;
    });
    await page.keyboard.press(attempt % 2 === 0 ? 'F1' : 'Control+Shift+P');
    const shown = await input
      .waitFor({ state: 'visible', timeout: 5 * SECOND })
      .then(() => true)
      .catch(() => false);
    // The palette can also close again before the title is typed (CI saw it right after
    // "View: Close Editor" moved the focus), or after it, before the command's row shows (CI
    // saw that right after "View: Close Editor" with the dashboard open in the side bar): both
    // count as not opened.
    const typed =
      shown &&
      (await input
        .fill(`>${title}`, { timeout: 5 * SECOND })
        .then(() => true)
        .catch(() => false));
    const listed =
      typed &&
      (await row
        .waitFor({ state: 'visible', timeout: 15 * SECOND })
        .then(() => true)
        .catch(() => false));
    if (listed) break;
    const what = !shown ? 'open' : !typed ? 'stay open' : 'list the command';
    if (attempt === 5) {
      throw new Error(
        `the command palette did not ${what} for "${title}" (focus was on ${focusedAt})`,
      );
    }
    progress(`command palette did not ${what} (focus on ${focusedAt}); trying again`);
    await page.keyboard.press('Escape');
  }
  await row.click();
  await page
    .locator('.quick-input-widget')
    .waitFor({ state: 'hidden', timeout: 10 * SECOND })
    .catch(() => undefined); // a command may open its own quick pick right away
}

/**
 * Runs a command that asks through a quick pick titled `title` and waits for that pick. A pick
 * can close again as soon as it opens when a webview or a notification takes the focus (CI saw
 * Train BNN's pick hidden right after a run-completed notification), so the command runs again,
 * up to three times.
 */
async function runCommandForQuickPick(page: Page, command: string, title: string): Promise<void> {
  const pick = page.locator('.quick-input-widget .quick-input-title', { hasText: title });
  for (let attempt = 0; ; attempt++) {
    await runCommand(page, command);
    const shown = await pick
      .waitFor({ state: 'visible', timeout: 15 * SECOND })
      .then(() => true)
      .catch(() => false);
    if (shown) return;
    if (attempt === 2) throw new Error(`"${command}" did not show its quick pick "${title}"`);
    progress(`"${command}": its quick pick did not stay open; running it again`);
    await page.keyboard.press('Escape');
  }
}

/** Records every BNN status-bar text as it changes, so fast transitions are not missed. */
async function recordStatusBar(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { bnnStatus: string[] };
    w.bnnStatus = [];
    const bar = document.getElementById('workbench.parts.statusbar');
    if (!bar) throw new Error('no status bar');
    const read = () => {
      for (const item of Array.from(bar.querySelectorAll('.statusbar-item'))) {
        const text = (item.textContent ?? '').trim();
        if (/^BNN\b/.test(text) && w.bnnStatus[w.bnnStatus.length - 1] !== text) {
          w.bnnStatus.push(text);
        }
      }
    };
    new MutationObserver(read).observe(bar, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
    });
    read();
  });
}

function statusTexts(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { bnnStatus: string[] }).bnnStatus.slice());
}

/**
 * The dashboard document. VS Code nests a webview in two iframes: `iframe.webview` (its URL names
 * the extension) and inside it `#active-frame` holding the page, which VS Code may replace on
 * reload, so this is looked up again on each call.
 */
async function dashboardFrame(page: Page): Promise<Frame | undefined> {
  // The side-bar view and the editor tab can both hold a dashboard document (a view whose
  // dashboard moved to a tab keeps its frame, empty): the one showing a run wins, else the first.
  let first: Frame | undefined;
  for (const outer of page.frames()) {
    if (!outer.url().includes(`extensionId=${EXTENSION_ID}`)) continue;
    for (const inner of outer.childFrames()) {
      if (inner.isDetached()) continue;
      const app = await inner.$('#app').catch(() => null);
      if (!app) continue;
      first ??= inner;
      const showsRun = await inner
        .evaluate(() => {
          const badge = document.querySelector<HTMLElement>('.status-badge');
          return badge !== null && !badge.hidden && (badge.dataset.status ?? '') !== '';
        })
        .catch(() => false);
      if (showsRun) return inner;
    }
  }
  return first;
}

/**
 * The checkpoint inspector's document (custom editor `bnnLab.checkpointInspector`): like the
 * dashboard, two iframes deep; told apart by its `.inspector` root.
 */
async function inspectorFrame(page: Page): Promise<Frame | undefined> {
  for (const outer of page.frames()) {
    if (!outer.url().includes(`extensionId=${EXTENSION_ID}`)) continue;
    for (const inner of outer.childFrames()) {
      if (inner.isDetached()) continue;
      const root = await inner.$('.inspector').catch(() => null);
      if (root) return inner;
    }
  }
  return undefined;
}

/**
 * Answers code-server's simple file dialog (a quick input titled `title`) with `value`. It fills
 * in its start folder asynchronously, so the path is typed until it sticks, and the OK button is
 * pressed until the dialog is gone (replaced by nothing or by the command's next quick pick).
 */
async function answerFileDialog(
  page: Page,
  title: string,
  value: string,
  okLabel: string,
): Promise<void> {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  const dialogTitle = page.locator('.quick-input-widget .quick-input-title', { hasText: title });
  await dialogTitle.waitFor({ state: 'visible', timeout: 30 * SECOND });
  await until('the path in the file dialog', 30 * SECOND, async () => {
    await input.fill(value);
    await new Promise((resolve) => setTimeout(resolve, 500));
    return (await input.inputValue()) === value ? true : undefined;
  });
  await until('the file dialog to accept the path', 30 * SECOND, async () => {
    if (!(await dialogTitle.isVisible().catch(() => false))) return true;
    await page
      .locator('.quick-input-widget .quick-input-action a', { hasText: okLabel })
      .click({ timeout: 5 * SECOND })
      .catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return (await dialogTitle.isVisible().catch(() => false)) ? undefined : true;
  });
}

/**
 * "BNN Lab: Inspect Checkpoint" on a file: code-server's file dialog is a quick input that takes
 * a path. Resolves with the tensor names in the inspector's table and those marked binary.
 */
async function inspectCheckpointFromPalette(
  page: Page,
  file: string,
): Promise<{ rows: string[]; binary: string[]; error: string }> {
  await runCommand(page, 'BNN Lab: Inspect Checkpoint');
  await answerFileDialog(page, 'BNN Lab: Inspect Checkpoint', file, 'Inspect');
  return until('the checkpoint inspector', 2 * MINUTE, async () => {
    const frame = await inspectorFrame(page);
    if (!frame) return undefined;
    const state = await frame.evaluate(() => ({
      rows: Array.from(document.querySelectorAll<HTMLElement>('.layer-row')).map(
        (r) => r.dataset.name ?? '',
      ),
      binary: Array.from(document.querySelectorAll<HTMLElement>('.layer-row'))
        .filter((r) => r.querySelector('td.binary')?.textContent === 'yes')
        .map((r) => r.dataset.name ?? ''),
      error: document.querySelector('.error-state')?.textContent ?? '',
    }));
    return state.rows.length > 0 || state.error ? state : undefined;
  });
}

/** The series table's header texts in the inspector page, once there is one. */
async function seriesHeaders(page: Page): Promise<string[] | undefined> {
  const frame = await inspectorFrame(page);
  if (!frame) return undefined;
  const headers = await frame.evaluate(() =>
    Array.from(document.querySelectorAll('.series-table th')).map((th) => th.textContent ?? ''),
  );
  return headers.length > 0 ? headers : undefined;
}

interface DashboardState {
  cards: string[];
  badge: string | null;
  testAccuracy: string | null;
  testAccuracyText: string;
  banner: string;
  empty: string;
}

async function readDashboard(frame: Frame): Promise<DashboardState> {
  return frame.evaluate(() => {
    const visible = (e: Element | null) => e !== null && !(e as HTMLElement).hidden;
    const badge = document.querySelector<HTMLElement>('.status-badge');
    const tile = document.querySelector<HTMLElement>('.stat[data-metric="testAccuracy"]');
    const banner = document.querySelector<HTMLElement>('.banner');
    const empty = document.querySelector<HTMLElement>('.empty-state');
    return {
      cards: Array.from(document.querySelectorAll<HTMLElement>('article.layer-card')).map(
        (c) => c.dataset.layer ?? '',
      ),
      badge: visible(badge) ? (badge?.dataset.status ?? null) : null,
      testAccuracy: tile?.dataset.value ?? null,
      testAccuracyText: tile?.querySelector('.stat-value')?.textContent ?? '',
      banner: visible(banner) ? (banner?.textContent ?? '') : '',
      empty: visible(empty) ? (empty?.textContent ?? '') : '',
    };
  });
}

/** Widens the side bar by dragging its sash, so the dashboard shows at a readable width. */
async function widenSideBar(page: Page, width: number): Promise<void> {
  const box = await page.locator('[id="workbench.parts.sidebar"]').boundingBox();
  if (!box || box.width >= width) return;
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width - 1, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width + 100, y, { steps: 5 });
  await page.mouse.move(box.x + width, y, { steps: 10 });
  await page.mouse.up();
}

function collectLogsOnFailure(data: string): void {
  const logs = path.join(data, 'logs');
  if (!existsSync(logs)) return;
  const dest = path.join(OUT, 'logs');
  rmSync(dest, { recursive: true, force: true });
  cpSync(logs, dest, { recursive: true });
  progress(`VS Code logs copied to ${path.relative(REPO, dest)}`);
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
      d.isDirectory() ? walk(path.join(dir, d.name)) : [path.join(dir, d.name)],
    );
  for (const file of walk(dest).filter((f) => /BNN Lab\.log$|exthost\.log$/.test(f))) {
    process.stderr.write(`--- ${path.relative(REPO, file)}\n${tail(file, 40)}\n`);
  }
}

/**
 * The installed extension's details page (Extensions view → BNN Lab): the README is rendered in a
 * webview, and every image of README.md must have loaded there (the page's CSP allows only
 * https: and data: images, so a relative or unreachable one shows nothing), the icon included.
 */
/** The chart legends of the dashboard: chart title → series labels (the step column left out). */
async function chartLegends(frame: Frame): Promise<Record<string, string[]>> {
  return frame.evaluate(() => {
    const out: Record<string, string[]> = {};
    for (const card of Array.from(document.querySelectorAll<HTMLElement>('.chart-card'))) {
      if (card.closest('[hidden]')) continue;
      const title = card.querySelector('.chart-title-text')?.textContent ?? '';
      const labels = Array.from(card.querySelectorAll('.u-series th'))
        .map((th) => (th.textContent ?? '').trim())
        .filter((l) => l !== 'step');
      const section = card.closest('section')?.querySelector('.section-title')?.textContent ?? '';
      out[`${section} / ${title}`] = labels;
    }
    return out;
  });
}

/**
 * Issue 15's comparison check: with the followed run in view, "BNN Lab: Compare Runs…" picks
 * the runs `others` (by run id); every chart (loss, accuracy, learning rate, the BNN metrics by
 * run, the layer cards) then overlays all three with a legend. Train BNN then starts another
 * run, and the comparison is gone.
 */
async function compareThreeRunsThenTrain(page: Page, others: readonly string[]): Promise<void> {
  await runCommandForQuickPick(page, 'BNN Lab: Compare Runs…', 'BNN Lab: Compare Runs');
  for (const runId of others) {
    const row = page
      .locator('.quick-input-list .monaco-list-row')
      .filter({ hasText: runId })
      .first();
    await row.waitFor({ state: 'visible', timeout: 30 * SECOND });
    await row.click(); // toggles its checkbox
  }
  await page.keyboard.press('Enter');
  const shown = await until('three runs compared in the dashboard', MINUTE, async () => {
    const frame = await dashboardFrame(page);
    if (!frame) return undefined;
    const state = await frame.evaluate(() => {
      const bar = document.querySelector<HTMLElement>('.compare-bar');
      const section = bar?.closest('section');
      if (!bar || !section || section.hidden) return undefined;
      // Layer cards draw their charts once on screen.
      document.querySelector('article.layer-card')?.scrollIntoView();
      return {
        bar: bar.textContent ?? '',
        legend: Array.from(document.querySelectorAll('.compare-legend .compare-name'), (n) =>
          (n.textContent ?? '').replace(/ \(in view\)$/, ''),
        ),
        cardLegend: Array.from(
          document.querySelectorAll('article.layer-card')[0]?.querySelectorAll('.u-series th') ??
            [],
          (th) => (th.textContent ?? '').trim(),
        ),
      };
    });
    if (!state || state.legend.length !== 3 || state.cardLegend.length === 0) return undefined;
    return { ...state, legends: await chartLegends(frame) };
  });
  progress(`compare: ${shown.bar.trim()}; legend ${shown.legend.join(' | ')}`);
  for (const runId of others) assert.match(shown.bar, new RegExp(runId));
  const names = shown.legend;
  const find = (title: string): string[] => {
    const key = Object.keys(shown.legends).find((k) => k.endsWith(` / ${title}`));
    assert.ok(key, `a chart titled ${title}: ${Object.keys(shown.legends).join(', ')}`);
    return shown.legends[key];
  };
  for (const n of names) {
    assert.ok(find('Loss').includes(`${n} train`), `Loss overlays ${n}`);
    assert.ok(find('Accuracy (%)').includes(`${n} test`), `Accuracy overlays ${n}`);
    assert.ok(find('Learning rate').includes(n), `Learning rate overlays ${n}`);
  }
  for (const [title, key] of [
    ['Quantization error (%)', 'QE'],
    ['Dead weights (%)', 'Dead'],
    ['Flip rate (%)', 'Flip'],
    ['Frozen weights (%)', 'Frozen'],
  ]) {
    const byRun = Object.entries(shown.legends).find(
      ([k]) => k.startsWith('Run comparison / ') && k.endsWith(title),
    );
    assert.deepEqual(byRun?.[1], names, `${title}: one line per run`);
    for (const n of names.slice(1)) {
      assert.ok(shown.cardLegend.includes(`${n} ${key}`), `layer card overlays ${n} ${key}`);
    }
  }
  await screenshot(page, '07b-compare-three');

  // Another run starts: the comparison ends (it was not pinned).
  await runCommandForQuickPick(page, 'BNN Lab: Train BNN', 'BNN Lab: Train BNN');
  await page.locator('.quick-input-widget .quick-input-box input').fill('small.bnn.json');
  const configRow = page
    .locator('.quick-input-list .monaco-list-row')
    .filter({ has: page.locator('.label-name', { hasText: 'small.bnn.json' }) })
    .first();
  await configRow.waitFor({ state: 'visible', timeout: 60 * SECOND });
  await configRow.click();
  const after = await until('the new run without the comparison', 3 * MINUTE, async () => {
    const frame = await dashboardFrame(page);
    if (!frame) return undefined;
    const state = await frame.evaluate(() => {
      const bar = document.querySelector<HTMLElement>('.compare-bar');
      const compared = !!bar && !bar.closest<HTMLElement>('section')?.hidden;
      return {
        compared,
        badge: document.querySelector('.status-badge')?.textContent ?? '',
        runId: document.querySelector('.run-id')?.textContent ?? '',
      };
    });
    return state.badge === 'completed' && !state.compared ? state : undefined;
  });
  const legends = await chartLegends((await dashboardFrame(page)) as Frame);
  const loss = Object.entries(legends).find(([k]) => k.endsWith(' / Loss'))?.[1];
  assert.deepEqual(loss, ['train', 'test'], 'the new run alone on the loss chart');
  progress(`compare: a new run (${after.runId}) ended the comparison`);
}

async function checkDetailsPage(page: Page): Promise<void> {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const expected = [...readme.matchAll(/!\[([^\]]*)\]\(/g)].map((m) => m[1]);
  assert.ok(expected.length > 0, 'README.md has images');
  await runCommand(page, 'View: Show Extensions');
  const search = page.locator('.extensions-viewlet .suggest-input-container');
  await search.waitFor({ state: 'visible', timeout: 30 * SECOND });
  await search.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.type('@installed BNN Lab');
  const item = page
    .locator('.extensions-viewlet .extension-list-item')
    .filter({ has: page.locator('.name', { hasText: /^BNN Lab$/ }) })
    .first();
  await item.waitFor({ state: 'visible', timeout: 60 * SECOND });
  await item.click();
  const icon = page.locator('.extension-editor .header .icon-container img.icon');
  await icon.waitFor({ state: 'visible', timeout: 30 * SECOND });
  const iconWidth = await until('the extension icon to load', 30 * SECOND, async () => {
    const w = await icon.evaluate((img: HTMLImageElement) =>
      img.complete ? img.naturalWidth : -1,
    );
    return w >= 0 ? w : undefined;
  });
  assert.ok(
    iconWidth > 0,
    `the icon on the details page loaded (${await icon.getAttribute('src')})`,
  );
  const images = await until('the README on the details page', MINUTE, async () => {
    // The README's webview document, not the workbench (whose list shows the description).
    for (const frame of page.frames()) {
      if (frame.isDetached() || frame === page.mainFrame()) continue;
      const found = await frame
        .evaluate((firstAlt) => {
          const imgs = Array.from(document.querySelectorAll('img'));
          if (!imgs.some((img) => img.alt === firstAlt)) return undefined;
          const pending = imgs.filter((img) => !img.complete);
          // Still decoding, or waiting to be scrolled to: bring each one on screen in turn.
          pending[0]?.scrollIntoView({ block: 'center' });
          if (pending.length > 0) return undefined;
          return imgs.map((img) => ({
            alt: img.alt,
            width: img.naturalWidth,
            src: img.src.slice(0, 80),
          }));
        }, expected[0])
        .catch(() => undefined);
      if (found) return found;
    }
    return undefined;
  });
  progress(`details page: ${images.map((i) => `${i.alt.slice(0, 40)}… ${i.width}px`).join('; ')}`);
  assert.deepEqual(
    images.map((i) => i.alt),
    expected,
    'the details page shows every image of README.md',
  );
  for (const image of images) {
    assert.ok(
      image.width > 0,
      `README image "${image.alt}" loaded on the details page (${image.src}…)`,
    );
  }
  await screenshot(page, '07-details-page');
}

/**
 * A new integrated terminal finds `bnn-lab` on its PATH (the extension's environment-variable
 * collection) and `bnn-lab --version` prints the extension's version. Read from the terminal's
 * rows as drawn (the DOM renderer, see the user settings).
 */
async function checkTerminalCli(page: Page): Promise<void> {
  const version = (
    JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  // Earlier steps leave toasts ("saved exported-metrics.csv") that can cover the terminal.
  await runCommand(page, 'Notifications: Clear All Notifications');
  await runCommand(page, 'Terminal: Create New Terminal');
  const rows = page.locator('.integrated-terminal .terminal-wrapper .xterm-rows').first();
  await rows.waitFor({ state: 'visible', timeout: MINUTE });
  // The shell is ready once it has drawn its prompt.
  await until('the terminal prompt', MINUTE, async () =>
    (await rows.innerText()).trim() !== '' ? true : undefined,
  );
  await page.locator('.integrated-terminal .terminal-wrapper .xterm').first().click();
  await page.keyboard.type('bnn-lab --version; echo "exit=$?"; command -v bnn-lab');
  await page.keyboard.press('Enter');
  const text = await until('bnn-lab --version in the terminal', MINUTE, async () => {
    const t = await rows.innerText();
    return /exit=\d+/.test(t) ? t : undefined;
  });
  const lines = text.split('\n').map((l) => l.trimEnd());
  progress(
    `terminal: ${lines
      .filter((l) => l.trim() !== '')
      .slice(-4)
      .join(' | ')}`,
  );
  assert.ok(lines.includes('exit=0'), `bnn-lab --version exited with 0:\n${text}`);
  assert.ok(
    lines.includes(`bnn-lab ${version}`),
    `bnn-lab --version printed "bnn-lab ${version}":\n${text}`,
  );
  // The launcher comes from the extension's global storage (terminal lines may wrap).
  assert.match(text.replace(/\n/g, ''), /globalStorage\/bnn-lab\.bnn-lab\/bin\/bnn-lab/);
  await screenshot(page, '08-terminal-cli');
}

/** The fields of metrics.jsonl records this test reads. */
interface E2eRecord {
  event: string;
  status?: string;
  backend?: { name: string; threads: number };
}

/** The run folders under the workspace, with their parsed metrics records. */
function readRuns(workspace: string): { dir: string; records: E2eRecord[] }[] {
  const root = path.join(workspace, '.bnn-lab', 'runs');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => path.join(root, name))
    .filter((dir) => existsSync(path.join(dir, 'metrics.jsonl')))
    .map((dir) => ({
      dir,
      records: readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as E2eRecord),
    }));
}

void test(
  'BNN Lab trains from the Command Palette in a real VS Code and shows every layer',
  { timeout: SETUP_TIMEOUT + RUN_TIMEOUT + 2 * MINUTE },
  async (t) => {
    t.signal.addEventListener('abort', () => void resources.release());
    mkdirSync(OUT, { recursive: true });
    assert.ok(existsSync(VSIX), `missing ${VSIX}: run \`npm run package\` before the e2e test`);

    const launcher = await setupCodeServer();
    const runStarted = Date.now();
    const tmp = mkdtempSync(path.join(tmpdir(), 'bnn-lab-e2e-'));
    resources.tmp = tmp;
    resources.keepTmp = true; // until the test passes
    const folders = prepareFolders(tmp);

    progress(`installing ${path.basename(VSIX)} into a fresh extensions dir`);
    const install = await run(
      launcher,
      [
        '--extensions-dir',
        folders.ext,
        '--user-data-dir',
        folders.data,
        '--install-extension',
        VSIX,
      ],
      3 * MINUTE,
      { ...process.env, XDG_CONFIG_HOME: path.join(tmp, 'config') },
    );
    assert.match(
      `${install.stdout}${install.stderr}`,
      /successfully installed/i,
      'code-server did not report the VSIX as installed',
    );
    const installed = readdirSync(folders.ext).filter((d) => d.startsWith(`${EXTENSION_ID}-`));
    assert.equal(installed.length, 1, `expected one ${EXTENSION_ID}-* folder in ${folders.ext}`);

    let consoleLog = (): string => '';
    try {
      const port = await startCodeServer(launcher, folders, tmp);
      const remaining = () => RUN_TIMEOUT - (Date.now() - runStarted);

      progress('launching Chromium');
      resources.browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      const context = await resources.browser.newContext({
        viewport: { width: 1600, height: 1000 },
        deviceScaleFactor: 1,
      });
      const page = await context.newPage();
      page.setDefaultTimeout(60 * SECOND);
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      const consoleLines: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') {
          consoleLines.push(`[${m.type()}] ${m.text()}`);
        }
      });
      consoleLog = () => consoleLines.join('\n');
      // Failed loads in any frame (workbench, webview), e.g. a bundle file missing from the VSIX.
      const failedLoads: string[] = [];
      context.on('response', (r) => {
        if (r.status() >= 400) failedLoads.push(`${r.status()} ${r.url()}`);
      });
      context.on('requestfailed', (r) => {
        failedLoads.push(`${r.failure()?.errorText ?? 'failed'} ${r.url()}`);
      });

      const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(folders.workspace)}`;
      progress(`opening ${url}`);
      await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 2 * MINUTE });
      await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 2 * MINUTE });
      await page
        .locator('[id="workbench.parts.statusbar"]')
        .waitFor({ state: 'visible', timeout: 2 * MINUTE });
      // The container's icon is there once the installed extension has been scanned.
      const activityIcon = page.locator(
        '.part.activitybar .action-item a.action-label[aria-label^="BNN Lab"]',
      );
      await activityIcon.waitFor({ state: 'visible', timeout: 2 * MINUTE });
      // The explorer shows the workspace once the remote file system is up.
      await page
        .locator('.explorer-folders-view .monaco-list-row', { hasText: 'small.bnn.json' })
        .waitFor({ state: 'visible', timeout: 2 * MINUTE });
      progress('workbench is up');
      // The run config in the editor, beside the dashboard in the screenshots.
      await page
        .locator('.explorer-folders-view .monaco-list-row', { hasText: 'small.bnn.json' })
        .click();
      await page
        .locator('.editor-group-container .tab', { hasText: 'small.bnn.json' })
        .waitFor({ state: 'visible', timeout: 30 * SECOND });
      await screenshot(page, '01-workbench');
      const dashboardTab = page.locator('.editor-group-container .tab', {
        hasText: 'BNN Lab Dashboard',
      });

      // Open Dashboard opens the full-width editor tab.
      await runCommand(page, 'BNN Lab: Open Dashboard');
      await dashboardTab.waitFor({ state: 'visible', timeout: 30 * SECOND });
      // The BNN Lab side bar (side dashboard, Runs, Layers), as a user opens it.
      await activityIcon.click();
      await page
        .locator('.part.activitybar .action-item.checked a.action-label[aria-label^="BNN Lab"]')
        .waitFor({ state: 'visible', timeout: 30 * SECOND });
      await widenSideBar(page, 820);
      const emptyDashboard = await until('the dashboard webview', 2 * MINUTE, async () => {
        const frame = await dashboardFrame(page);
        const state = frame && (await readDashboard(frame));
        return state?.empty ? state : undefined;
      });
      assert.match(emptyDashboard.empty, /No training run yet/, 'dashboard empty state');
      progress('dashboard webview is up (no run yet)');
      await screenshot(page, '02-dashboard-empty');

      // A typo'd key and a missing dataset folder: one error each, with "did you mean" for the
      // key and an Open Config action that selects it, and no run folder (issue 15, item 9).
      for (const bad of [
        {
          file: 'typo.bnn.json',
          error: /"learningrate" is not a known key; did you mean "learningRate"\?/,
          selected: '"learningrate"'.length,
        },
        {
          file: 'nodata.bnn.json',
          error: /dataset folder \S*no-such-folder does not exist/,
          selected: '"path"'.length,
        },
      ]) {
        await runCommand(page, 'BNN Lab: Train BNN');
        const badInput = page.locator('.quick-input-widget .quick-input-box input');
        await badInput.fill(bad.file);
        await page
          .locator('.quick-input-list .monaco-list-row')
          .filter({ has: page.locator('.label-name', { hasText: bad.file }) })
          .first()
          .click();
        const toast = page.locator('.notification-toast', { hasText: bad.error }).first();
        await toast.waitFor({ state: 'visible', timeout: 30 * SECOND });
        progress(`${bad.file}: ${(await toast.textContent()) ?? ''}`);
        await toast.getByRole('button', { name: 'Open Config' }).click();
        await page
          .locator('.editor-group-container .tab.active', { hasText: bad.file })
          .waitFor({ state: 'visible', timeout: 30 * SECOND });
        await page
          .locator('.statusbar-item', { hasText: `(${bad.selected} selected)` })
          .waitFor({ state: 'visible', timeout: 30 * SECOND });
        progress(`${bad.file}: Open Config selected the key`);
        await runCommand(page, 'View: Close Editor');
      }
      assert.deepEqual(
        existsSync(path.join(folders.workspace, '.bnn-lab', 'runs'))
          ? readdirSync(path.join(folders.workspace, '.bnn-lab', 'runs'))
          : [],
        [],
        'no run folder for a refused run config',
      );
      await runCommand(page, 'Notifications: Clear All Notifications');

      // The dashboard tab behind the run config: Train BNN must bring it to front.
      await page.locator('.editor-group-container .tab', { hasText: 'small.bnn.json' }).click();
      await until('the run config tab in front', 30 * SECOND, async () =>
        (await dashboardTab.getAttribute('aria-selected')) === 'false' ? true : undefined,
      );

      await recordStatusBar(page);
      await runCommandForQuickPick(page, 'BNN Lab: Train BNN', 'BNN Lab: Train BNN');
      const pickInput = page.locator('.quick-input-widget .quick-input-box input');
      await pickInput.fill('small.bnn.json');
      const configRow = page
        .locator('.quick-input-list .monaco-list-row')
        .filter({ has: page.locator('.label-name', { hasText: 'small.bnn.json' }) })
        .first();
      await configRow.waitFor({ state: 'visible', timeout: 60 * SECOND });
      progress('quick pick: small.bnn.json');
      await configRow.click();
      await until('Train BNN to bring the dashboard tab to front', 30 * SECOND, async () =>
        (await dashboardTab.getAttribute('aria-selected')) === 'true' ? true : undefined,
      );
      progress('Train BNN brought the dashboard tab to front');

      // Status bar: `BNN <epoch>/<epochs> · <step>/<steps> · loss … · <backend>` while it trains.
      const progressText = await until(
        'BNN Lab progress in the status bar',
        remaining(),
        async () => (await statusTexts(page)).find((s) => /\d+\/\d+ · \d+\/\d+ · loss \S+/.test(s)),
      );
      progress(`status bar: ${progressText}`);
      await screenshot(page, '03-training');

      const finished = await until('the run to finish in the dashboard', remaining(), async () => {
        const frame = await dashboardFrame(page);
        const state = frame && (await readDashboard(frame));
        if (state?.badge === 'failed') {
          throw new Error(`training failed in the dashboard: ${state.banner}`);
        }
        return state?.badge === 'completed' ? state : undefined;
      });
      progress(`dashboard: ${finished.badge}, test accuracy ${finished.testAccuracyText}`);

      assert.deepEqual(finished.cards, BINARY_LAYERS, 'one chart card per binary layer');
      const accuracy = Number(finished.testAccuracy);
      assert.ok(
        finished.testAccuracy !== '' && accuracy >= 0 && accuracy <= 1,
        `test accuracy tile holds a fraction (data-value="${finished.testAccuracy}")`,
      );
      assert.match(finished.testAccuracyText, /^\d+(\.\d+)?%$/, 'test accuracy tile text');
      // Cards draw only while on screen (the dashboard stays cheap with 50+ layers) and catch up
      // when scrolled into view, so bring each one on screen, as a user scrolling the panel would,
      // and wait for its histogram. The histograms crossed worker → host → webview as
      // Uint32Arrays (toWireRecord): each card's histogram holds every weight of its layer.
      const weights: number[] = [];
      for (const layer of BINARY_LAYERS) {
        const drawn = await until(
          `${layer}'s card to draw its histogram`,
          15 * SECOND,
          async () => {
            const frame = await dashboardFrame(page);
            if (!frame) return undefined;
            const state = await frame.evaluate((name) => {
              const card = document.querySelector(`article.layer-card[data-layer="${name}"]`);
              card?.scrollIntoView({ block: 'center' });
              const hist = card?.querySelector<HTMLElement>('canvas[data-weights]');
              return {
                canvases: card ? card.querySelectorAll('canvas').length : 0,
                weights: Number(hist?.dataset.weights ?? 0),
              };
            }, layer);
            return state.canvases > 0 && state.weights > 0 ? state : undefined;
          },
        );
        progress(`${layer}: ${drawn.canvases} charts, histogram of ${drawn.weights} weights`);
        weights.push(drawn.weights);
      }
      assert.deepEqual(weights, BINARY_PARAMS, 'histogram counts add up to each layer size');

      const doneText = await until('the completed run in the status bar', 30 * SECOND, async () =>
        (await statusTexts(page)).find((s) => /^BNN completed/.test(s)),
      );
      progress(`status bar: ${doneText}`);
      assert.match(doneText, /test acc \d+(\.\d+)?%/, 'status bar reports the test accuracy');
      await page
        .locator('.notification-toast', { hasText: /completed: test accuracy/ })
        .first()
        .waitFor({ state: 'visible', timeout: 30 * SECOND });
      const shot = await screenshot(page, '04-completed');
      if (process.env.BNN_LAB_UPDATE_README_SHOT === '1') {
        mkdirSync(path.dirname(README_SHOT), { recursive: true });
        copyFileSync(shot, README_SHOT);
        progress(`copied to ${path.relative(REPO, README_SHOT)}`);
      }

      const runs = readRuns(folders.workspace);
      assert.equal(runs.length, 1, 'one run folder under .bnn-lab/runs');
      const [{ dir, records }] = runs;
      assert.match(path.basename(dir), /mnist-cnn/, 'run folder is named after the preset');
      assert.equal(records[0]?.event, 'start', 'metrics.jsonl starts with a start record');
      // bnnLab.engine.threads is unset: one data-parallel replica per core.
      assert.equal(
        records[0]?.backend?.threads,
        availableParallelism(),
        'the run trains on every core',
      );
      progress(
        `run backend: ${JSON.stringify(records[0]?.backend?.name)} on ${records[0]?.backend?.threads} thread(s)`,
      );
      assert.ok(
        records.some((r) => r.event === 'step'),
        'metrics.jsonl has step records',
      );
      const last = records[records.length - 1];
      assert.equal(last?.event, 'done', 'metrics.jsonl ends with a done record');
      assert.equal(last?.status, 'completed', 'the done record says completed');

      // The epoch's checkpoint in the inspector (custom editor, analysis worker, webview).
      const checkpoint = path.join(dir, 'checkpoints', 'epoch-1', 'model.json');
      assert.ok(existsSync(checkpoint), `the run wrote ${checkpoint}`);
      const inspected = await inspectCheckpointFromPalette(page, checkpoint);
      assert.equal(inspected.error, '', 'the inspector reads the checkpoint');
      progress(
        `inspector: ${inspected.rows.length} tensors, binary: ${inspected.binary.join(', ')}`,
      );
      for (const layer of BINARY_LAYERS) {
        assert.ok(
          inspected.binary.some((name) => name.startsWith(`${layer}/`)),
          `${layer}'s kernel is marked binary from BNN Lab's metadata`,
        );
      }
      const inspectorShot = await screenshot(page, '05-inspector');
      if (process.env.BNN_LAB_UPDATE_README_SHOT === '1') {
        copyFileSync(inspectorShot, README_INSPECTOR_SHOT);
        progress(`copied to ${path.relative(REPO, README_INSPECTOR_SHOT)}`);
      }

      // Fine-tune that checkpoint with LNS from the inspector's button: four prompts (epochs, α,
      // ρ, dataset) accepted with their defaults, then the run streams to the dashboard.
      const sourceBytes = readFileSync(checkpoint);
      await until('the inspector to offer the fine-tune', 30 * SECOND, async () => {
        const frame = await inspectorFrame(page);
        const button = frame?.locator('vscode-button', {
          hasText: 'Fine-tune with Noisy Supervision',
        });
        if (!button || (await button.count()) === 0) return undefined;
        await button.first().click();
        return true;
      });
      const promptTitle = page.locator('.quick-input-widget .quick-input-title');
      for (const step of ['1/4', '2/4', '3/4', '4/4']) {
        await promptTitle
          .filter({ hasText: `Fine-tune Checkpoint with Noisy Supervision (${step})` })
          .waitFor({ state: 'visible', timeout: 30 * SECOND });
        progress(`fine-tune prompt ${step}: default`);
        await page.keyboard.press('Enter');
      }
      const tuned = await until(
        'the fine-tune to finish in the dashboard',
        remaining(),
        async () => {
          const frame = await dashboardFrame(page);
          if (!frame) return undefined;
          return frame.evaluate(() => {
            const badge = document.querySelector<HTMLElement>('.status-badge');
            if (badge?.dataset.status === 'failed') return { failed: badge.textContent ?? '' };
            const headline = document.querySelector<HTMLElement>('.finetune-headline');
            if (!headline || badge?.dataset.status !== 'completed') return undefined;
            return {
              headline: headline.textContent ?? '',
              rows: Array.from(
                document.querySelectorAll<HTMLElement>('.finetune-table tbody tr'),
              ).map((r) => r.dataset.layer ?? ''),
              charts: Array.from(
                document.querySelectorAll<HTMLElement>('figure[data-metric]:not([hidden])'),
              ).map((f) => f.dataset.metric ?? ''),
            };
          });
        },
      );
      if ('failed' in tuned) throw new Error(`the fine-tune failed: ${tuned.failed}`);
      progress(`fine-tune: ${tuned.headline}`);
      assert.match(tuned.headline, /^LNS .*test accuracy \d+(\.\d+)?% → \d+(\.\d+)?%/);
      assert.deepEqual(tuned.rows, BINARY_LAYERS, 'a before/after row per binary layer');
      for (const metric of ['flipFromStart', 'disagreement', 'auxLoss']) {
        assert.ok(tuned.charts.includes(metric), `the ${metric} chart is shown`);
      }
      // The LNS auxiliary loss (a negative sum) draws its lines: coloured pixels in its canvas.
      const auxPixels = await until('the auxiliary-loss chart to draw', 30 * SECOND, async () => {
        const frame = await dashboardFrame(page);
        const n = await frame?.evaluate(() => {
          const fig = document.querySelector('figure[data-metric="auxLoss"]');
          fig?.scrollIntoView({ block: 'center' });
          const canvas = fig?.querySelector<HTMLCanvasElement>('.uplot canvas');
          const data = canvas?.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height);
          let coloured = 0;
          for (let i = 0; data && i < data.data.length; i += 4) {
            const [r, g, b, a] = data.data.subarray(i, i + 4);
            if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 80) coloured++;
          }
          return coloured;
        });
        return n !== undefined && n > 50 ? n : undefined;
      });
      progress(`auxiliary-loss chart: ${auxPixels} coloured pixels`);
      await page
        .locator('.notification-toast', { hasText: /lns.*completed: test accuracy/ })
        .first()
        .waitFor({ state: 'visible', timeout: 30 * SECOND });
      await screenshot(page, '05b-finetune');
      assert.deepEqual(readFileSync(checkpoint), sourceBytes, 'the source checkpoint is unchanged');
      const tunedRun = readRuns(folders.workspace).find((r) =>
        /mnist-cnn-finetune-lns/.test(r.dir),
      );
      assert.ok(tunedRun, 'the fine-tune has its own run folder');
      assert.ok(
        existsSync(path.join(tunedRun.dir, 'checkpoints', 'epoch-1', 'model.json')),
        'the fine-tune wrote its checkpoint',
      );

      // The Runs view: open the finished training run from its folder, then overlay the
      // fine-tune with the row's inline "Compare With…" action.
      const sourceId = path.basename(dir);
      const tunedId = path.basename(tunedRun.dir);
      const runRow = page
        .locator('.monaco-list-row', { hasText: sourceId })
        .filter({ hasNotText: tunedId })
        .first();
      await runRow.waitFor({ state: 'visible', timeout: 30 * SECOND });
      await runRow.click();
      // The Runs view refreshes when a run ends; a click that lands while it re-renders reaches
      // a row whose command VS Code has already dropped ("Actual command not found" in the log,
      // seen once on CI right after the fine-tune ended). A user clicks again; so does the test.
      let clickedAt = Date.now();
      const reopened = await until('the dashboard to show the opened run', MINUTE, async () => {
        if (Date.now() - clickedAt > 5 * SECOND) {
          progress('runs view: the run did not open yet; clicking its row again');
          await runRow.click();
          clickedAt = Date.now();
        }
        const frame = await dashboardFrame(page);
        if (!frame) return undefined;
        return frame.evaluate((id) => {
          const runId = document.querySelector('.run-id')?.textContent ?? '';
          const section = document.querySelector<HTMLElement>('.finetune-summary');
          const cards = document.querySelectorAll('article.layer-card').length;
          return runId === id && cards > 0 ? { finetuneShown: !section?.hidden, cards } : undefined;
        }, sourceId);
      });
      assert.equal(reopened.finetuneShown, false, 'a training run shows no fine-tune section');
      assert.equal(reopened.cards, BINARY_LAYERS.length, 'the reopened run shows every layer');
      progress(`runs view: opened ${sourceId} from its folder`);
      await runRow.hover();
      await runRow.locator('.action-label[aria-label="Compare With…"]').click();
      const otherRow = page
        .locator('.quick-input-list .monaco-list-row')
        .filter({ hasText: tunedId })
        .first();
      await otherRow.waitFor({ state: 'visible', timeout: 30 * SECOND });
      await otherRow.click();
      const compared = await until('the comparison bar', MINUTE, async () => {
        const frame = await dashboardFrame(page);
        const text = await frame?.evaluate(() => {
          // The comparison section hides, not its bar: wait for the section to show.
          const bar = document.querySelector<HTMLElement>('.compare-bar');
          return bar && !bar.closest<HTMLElement>('section')?.hidden ? (bar.textContent ?? '') : '';
        });
        return text ? text : undefined;
      });
      assert.match(compared, new RegExp(`Comparing with ${tunedId}`));
      progress(`runs view: ${compared.trim()}`);
      await screenshot(page, '05c-compare');

      // Export the run's metrics as CSV: the dashboard posts it, the host asks where (code-server's
      // save dialog, a quick input) and writes the file.
      const csvFile = path.join(folders.workspace, 'exported-metrics.csv');
      await until('the Export CSV button', 30 * SECOND, async () => {
        const frame = await dashboardFrame(page);
        const button = frame?.locator('vscode-button.csv-button');
        if (!button || (await button.count()) === 0) return undefined;
        await button.first().click();
        return true;
      });
      const saveTitle = page.locator('.quick-input-widget .quick-input-title', {
        hasText: 'BNN Lab: Save CSV',
      });
      await saveTitle.waitFor({ state: 'visible', timeout: 30 * SECOND });
      const saveInput = page.locator('.quick-input-widget .quick-input-box input');
      await until('the save path', 30 * SECOND, async () => {
        await saveInput.fill(csvFile);
        await new Promise((resolve) => setTimeout(resolve, 500));
        return (await saveInput.inputValue()) === csvFile ? true : undefined;
      });
      await page.keyboard.press('Enter');
      const csv = await until('the CSV file', 30 * SECOND, async () =>
        existsSync(csvFile) ? readFileSync(csvFile, 'utf8') : undefined,
      );
      const [csvHeader, ...csvRows] = csv.trim().split('\n');
      progress(`export: ${path.basename(csvFile)}, ${csvRows.length} rows`);
      assert.match(csvHeader, /^step,/, 'CSV header starts with the step column');
      for (const layer of BINARY_LAYERS) {
        assert.ok(csvHeader.includes(`${layer}/flipRate`), `CSV has ${layer}/flipRate`);
      }
      assert.ok(csvRows.length > 0, 'CSV has a row per report');

      // Export the trained checkpoint as ONNX (docs/export.md): folder dialog, format pick, save
      // dialog; the bundled CLI writes the file in a separate process.
      const onnxFile = path.join(folders.workspace, 'exported.onnx');
      await page
        .locator('.quick-input-widget')
        .waitFor({ state: 'hidden', timeout: 10 * SECOND })
        .catch(() => undefined);
      await runCommand(page, 'BNN Lab: Export Checkpoint…');
      await answerFileDialog(
        page,
        'BNN Lab: Export Checkpoint: pick a BNN Lab checkpoint folder',
        path.join(dir, 'checkpoints', 'epoch-1'),
        'Export',
      );
      const onnxRow = page
        .locator('.quick-input-list .monaco-list-row')
        .filter({ has: page.locator('.label-name', { hasText: /^onnx$/ }) })
        .first();
      await onnxRow.waitFor({ state: 'visible', timeout: 30 * SECOND });
      await onnxRow.click();
      await page
        .locator('.quick-input-widget .quick-input-title', {
          hasText: 'BNN Lab: Export Checkpoint as ONNX',
        })
        .waitFor({ state: 'visible', timeout: 30 * SECOND });
      await until('the ONNX save path', 30 * SECOND, async () => {
        await saveInput.fill(onnxFile);
        await new Promise((resolve) => setTimeout(resolve, 500));
        return (await saveInput.inputValue()) === onnxFile ? true : undefined;
      });
      await page.keyboard.press('Enter');
      const onnx = await until('the exported ONNX file', 2 * MINUTE, async () =>
        existsSync(onnxFile) ? readFileSync(onnxFile) : undefined,
      );
      progress(`export: ${path.basename(onnxFile)}, ${onnx.length} bytes`);
      assert.ok(onnx.includes(Buffer.from('GreaterOrEqual')), 'the ONNX graph binarizes with >= 0');

      // The run's checkpoints folder, watched: a new epoch folder appears and is analysed.
      await page
        .locator('.quick-input-widget')
        .waitFor({ state: 'hidden', timeout: 10 * SECOND })
        .catch(() => undefined);
      // One inspector page at a time in this test: close the first one with its tab's close button.
      const inspectorTab = page.locator('.editor-group-container .tab', { hasText: 'model.json' });
      const inspectorTabs = await inspectorTab.count();
      await inspectorTab.first().hover();
      await inspectorTab.first().locator('.tab-actions .action-label').first().click();
      await until('the inspector tab to close', 30 * SECOND, async () =>
        (await inspectorTab.count()) < inspectorTabs ? true : undefined,
      );
      await runCommand(page, 'BNN Lab: Analyse Checkpoint Folder');
      await answerFileDialog(
        page,
        'BNN Lab: Analyse Checkpoint Folder',
        path.join(dir, 'checkpoints'),
        'Analyse',
      );
      const watchRow = page
        .locator('.quick-input-list .monaco-list-row')
        .filter({ has: page.locator('.label-name', { hasText: 'Analyse and watch' }) })
        .first();
      await watchRow.waitFor({ state: 'visible', timeout: 30 * SECOND });
      await watchRow.click();
      const before = await until('the series table', 2 * MINUTE, () => seriesHeaders(page));
      assert.deepEqual(before, ['Tensor', 'frozen'], 'one checkpoint: no pair column yet');
      // VS Code starts a file watcher asynchronously; events before it is up are not delivered,
      // so give it a moment (a training job writes its next checkpoint minutes later).
      await new Promise((resolve) => setTimeout(resolve, 3 * SECOND));
      cpSync(path.join(dir, 'checkpoints', 'epoch-1'), path.join(dir, 'checkpoints', 'epoch-2'), {
        recursive: true,
      });
      const after = await until('the watched folder to update', 2 * MINUTE, async () => {
        const headers = await seriesHeaders(page);
        return headers && headers.length > 2 ? headers : undefined;
      });
      assert.deepEqual(after, ['Tensor', 'epoch-1 → epoch-2', 'frozen']);
      progress(`series (watching): ${after.join(' | ')}`);
      await screenshot(page, '06-series-watch');

      // A run another program writes (python/bnn_lab_telemetry.py), outside the workspace, is
      // followed as it grows: the first records, then the rest appended while the panel is open.
      const externalLines = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n');
      const external = path.join(path.dirname(folders.workspace), 'external-run');
      externalLines[0] = JSON.stringify({ ...JSON.parse(externalLines[0]), runId: 'external-run' });
      mkdirSync(external);
      writeFileSync(
        path.join(external, 'metrics.jsonl'),
        `${externalLines.slice(0, 3).join('\n')}\n`,
      );
      await runCommand(page, 'BNN Lab: Follow External Run…');
      await answerFileDialog(page, 'BNN Lab: Follow External Run', external, 'Follow');
      const following = await until('the followed run in the dashboard', 2 * MINUTE, async () => {
        const frame = await dashboardFrame(page);
        const state = frame && (await readDashboard(frame));
        return state?.badge === 'running' && state.cards.length > 0 ? state : undefined;
      });
      assert.deepEqual(following.cards, BINARY_LAYERS);
      appendFileSync(
        path.join(external, 'metrics.jsonl'),
        `${externalLines.slice(3).join('\n')}\n`,
      );
      const followed = await until('the followed run to complete', 2 * MINUTE, async () => {
        const frame = await dashboardFrame(page);
        const state = frame && (await readDashboard(frame));
        return state?.badge === 'completed' ? state : undefined;
      });
      const externalDone = JSON.parse(externalLines.at(-1) ?? '{}') as { testAccuracy?: number };
      assert.equal(followed.testAccuracy, String(externalDone.testAccuracy));
      progress(`followed an external run: ${followed.cards.length} cards, ${followed.badge}`);
      await screenshot(page, '07-follow-external');

      // ── Run comparison (issue 15) ─────────────────────────────────────────────────────────
      // "Compare Runs…" overlays the training run and the fine-tune on the followed run: three
      // runs on every chart with a legend. Starting another run ends the (unpinned) comparison.
      await compareThreeRunsThenTrain(page, [path.basename(dir), path.basename(tunedRun.dir)]);
      // ── end of run comparison ─────────────────────────────────────────────────────────────

      // The extension as a user finds it: its details page, and its CLI in a terminal.
      await checkDetailsPage(page);
      await checkTerminalCli(page);

      // A window reload restores the dashboard tab (WebviewPanelSerializer), with a run in it.
      await page.reload({ waitUntil: 'domcontentloaded', timeout: 2 * MINUTE });
      await page
        .locator('.editor-group-container .tab', { hasText: 'BNN Lab Dashboard' })
        .click({ timeout: 2 * MINUTE });
      const restored = await until(
        'the restored dashboard tab to show a run',
        2 * MINUTE,
        async () => {
          for (const outer of page.frames()) {
            if (!outer.url().includes(`extensionId=${EXTENSION_ID}`)) continue;
            for (const inner of outer.childFrames()) {
              if (inner.isDetached()) continue;
              const id = await inner
                .evaluate(() =>
                  document.documentElement.dataset.layout === 'panel'
                    ? (document.querySelector('.run-id')?.textContent ?? '')
                    : '',
                )
                .catch(() => '');
              if (id) return id;
            }
          }
          return undefined;
        },
      );
      progress(`reload: the dashboard tab is back, showing ${restored}`);
      // ---- issue 15: a .pth double-clicked in the Explorer opens the inspector; a compare row
      // opens the tensor in both files ----
      await checkExplorerOpensInspector(page, folders.workspace, {
        until,
        inspectorFrame,
        progress,
        screenshot,
        runCommand,
        answerFileDialog,
      });
      // ---- end of the issue 15 block ----
      assert.deepEqual(pageErrors, [], 'no uncaught errors in the workbench page');
      for (const line of failedLoads) progress(`failed load: ${line}`);
      assert.deepEqual(
        failedLoads.filter((line) => line.includes(EXTENSION_ID)),
        [],
        'every file of the extension loads',
      );

      resources.keepTmp = false;
      progress(`passed (${((Date.now() - started) / SECOND).toFixed(0)}s in all)`);
    } catch (e) {
      const browser = resources.browser;
      const page = browser?.contexts()[0]?.pages()[0];
      if (page) await screenshot(page, 'failure').catch(() => undefined);
      collectLogsOnFailure(folders.data);
      const lines = consoleLog();
      if (lines) {
        writeFileSync(path.join(OUT, 'browser-console.log'), `${lines}\n`);
        process.stderr.write(`--- browser console (errors, warnings)\n${lines.slice(-6000)}\n`);
      }
      throw e;
    } finally {
      await resources.release();
    }
  },
);
