/**
 * The dashboard following a PyTorch run: test/fixtures/pytorch/train_bnn.py trains a small BNN
 * with python/bnn_lab_telemetry.py while the external-run follower (extension/engine/externalRun)
 * reads the growing folder and feeds the page the way DashboardViewProvider does: a snapshot,
 * then record batches and the final status. Needs `npm run build`, Debian's chromium and
 * /usr/bin/python3 with torch (or BNN_LAB_PYTHON). With BNN_LAB_UPDATE_DOC_IMAGES=1 the finished
 * panel is also saved as docs/images/dashboard-pytorch-run.png (off by default: a test run leaves
 * the tree clean).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import type { MetricsRecord } from '../../core/protocol';
import { MetricsFollower } from '../../extension/engine/externalRun';
import {
  CHROMIUM,
  DIST,
  ROOT,
  SCREENSHOTS,
  launchChromium,
  openDashboard,
  posted,
  send,
  startServer,
} from './harness';

const PYTHON = process.env.BNN_LAB_PYTHON ?? '/usr/bin/python3';
const SCRIPT = join(ROOT, 'test', 'fixtures', 'pytorch', 'train_bnn.py');
const STEPS = 40;

async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const viewport = page.viewportSize() ?? { width: 960, height: 900 };
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: viewport.width, height: Math.max(viewport.height, height) });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)));
  await page.waitForTimeout(150);
  const path = join(SCREENSHOTS, name);
  await page.screenshot({ path, fullPage: true });
  await page.setViewportSize(viewport);
  return path;
}

async function waitForFile(path: string, trainer: Promise<unknown>): Promise<void> {
  let ended = false;
  void trainer.finally(() => (ended = true)); // only watched here; awaited by the caller
  for (;;) {
    try {
      await stat(path);
      return;
    } catch {
      if (ended) assert.fail(`the training script ended without writing ${path}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

// node:test schedules the test itself; the returned promise is voided on purpose.
void test('dashboard follows a PyTorch run written by bnn_lab_telemetry', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed; install Debian's chromium package to run this test`);
    return;
  }
  assert.ok(existsSync(join(DIST, 'main.js')), 'dist/webview/main.js: run `npm run build` first');
  const folder = await mkdtemp(join(tmpdir(), 'bnn-lab-pytorch-browser-'));
  const { server, origin } = await startServer();
  const browser = await launchChromium();
  const errors: string[] = [];
  try {
    await t.test('live: snapshot while training, records as the folder grows', async () => {
      const page = await openDashboard(browser, origin, 'light', errors, 720);
      const out = join(folder, 'live');
      const trainer = new Promise<void>((resolve, reject) => {
        execFile(
          PYTHON,
          [SCRIPT, out, 'single', String(STEPS)],
          { env: { ...process.env, BNN_LAB_TEST_STEP_DELAY: '0.05' }, timeout: 300_000 },
          (error, _stdout, stderr) =>
            error
              ? reject(
                  new Error(
                    `${PYTHON} ${SCRIPT} failed (Debian: apt-get install python3-torch, or set BNN_LAB_PYTHON): ${stderr}`,
                  ),
                )
              : resolve(),
        );
      });
      const dir = join(out, 'run');
      await waitForFile(join(dir, 'metrics.jsonl'), trainer);
      const follower = new MetricsFollower(dir);
      await follower.poll();
      const first = follower.snapshot();
      await send(page, { kind: 'snapshot', trusted: true, run: first });
      const batches: MetricsRecord[][] = [];
      let delivery = Promise.resolve();
      follower.start((records) => {
        batches.push(records);
        delivery = delivery.then(() =>
          send(page, { kind: 'records', runId: first.runId, records }),
        );
      }, 100);
      await trainer;
      while (follower.following) await new Promise((r) => setTimeout(r, 50));
      await delivery;
      const done = follower.done;
      assert.ok(done, 'the follower read the done record');
      await send(page, { kind: 'status', runId: first.runId, status: done.status });
      assert.ok(batches.length >= 2, `records arrived in ${batches.length} batches while training`);
      assert.equal(
        first.records.length + batches.flat().length,
        follower.records.length,
        'every record was delivered once',
      );

      await page.locator('.status-badge', { hasText: 'completed' }).waitFor();
      const cards = page.locator('.layer-card');
      assert.equal(await cards.count(), 2, 'one card per binary layer');
      for (const name of ['conv2.weight', 'conv3.weight']) {
        const card = page.locator(`.layer-card[data-layer="${name}"]`);
        await card.scrollIntoViewIfNeeded();
        await card.locator('canvas.hist-canvas').waitFor();
      }
      assert.equal(await page.locator('.overview tbody tr').count(), 4, 'every weight layer');
      assert.match(await page.locator('.progress-text').innerText(), /pytorch backend/);
      const accuracy = await page
        .locator('[data-metric="testAccuracy"]')
        .getAttribute('data-value');
      assert.equal(accuracy, String(done.testAccuracy));
      assert.equal(await page.locator('.notice').isVisible(), false, 'nothing was skipped');
      const rendered = (await posted(page)).filter((m) => m.kind === 'rendered').at(-1);
      assert.ok(rendered?.kind === 'rendered');
      assert.deepEqual(rendered.layerCards, ['conv2.weight', 'conv3.weight']);
      const shot = await screenshot(page, 'dashboard-pytorch-run.png');
      if (process.env.BNN_LAB_UPDATE_DOC_IMAGES === '1') {
        copyFileSync(shot, join(ROOT, 'docs', 'images', 'dashboard-pytorch-run.png'));
      }
      await page.close();
    });

    await t.test('a malformed line and a cut-off last line are skipped and counted', async () => {
      const page = await openDashboard(browser, origin, 'dark', errors, 720);
      const lines = (await readFile(join(folder, 'live', 'run', 'metrics.jsonl'), 'utf8'))
        .split('\n')
        .filter((l) => l !== '');
      const dir = join(folder, 'damaged');
      await mkdir(dir);
      await writeFile(
        join(dir, 'metrics.jsonl'),
        [lines[0], '{"event":"step","loss":', ...lines.slice(1), '{"event":"st'].join('\n'),
      );
      const follower = new MetricsFollower(dir);
      await follower.poll();
      assert.equal(follower.records.length, lines.length);
      await send(page, {
        kind: 'snapshot',
        trusted: true,
        run: follower.snapshot(),
        skipped: follower.skipped,
      });
      await page.locator('.status-badge', { hasText: 'completed' }).waitFor();
      assert.match(
        await page.locator('.notice .banner-text').innerText(),
        /Skipped 1 unreadable line and a cut-off last line/,
      );
      await page.close();
    });
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await browser.close();
    server.close();
    await rm(folder, { recursive: true, force: true });
  }
});
