/**
 * Benchmark of the dashboard webview in headless Chromium (not a test: no thresholds).
 *
 *   npm run build && npx tsc -p test && node out/test/bench/dashboard.js [--seconds 60]
 *     [--layers 50] [--bins 64] [--rate 10] [--reports 1000] [--width 960]
 *
 * Serves the production bundle (strict CSP) as the browser test does, opens a run with
 * `--layers` binary layers, then streams one `step` record (every layer's `--bins`-bin histogram,
 * metrics and per-channel α) `--rate` times a second for `--seconds`, generated inside the page
 * and delivered as `message` events like VS Code's postMessage. It reports:
 * - frame interval: requestAnimationFrame deltas (everything the main thread did per frame);
 * - frame work: time inside the page's own rAF callbacks (the dashboard's coalesced render,
 *   including the microtasks uPlot queues), over frames that drew;
 * - JS heap after a forced GC at the start, every 30 s, and at the end (CDP);
 * - time to open a finished run of `--reports` reports (snapshot message → first full render),
 *   for 4 layers and for `--layers` layers.
 */
import { DASHBOARD_HISTOGRAM_FRAMES } from '../../core/protocol';
import { thinSnapshotRecords } from '../../extension/engine/dashboardFeed';
import { join } from 'node:path';
import {
  launchChromium,
  openDashboard,
  startServer,
  CHROMIUM,
  SCREENSHOTS,
} from '../browser/harness';
import { existsSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { Page } from 'playwright-core';

interface Options {
  seconds: number;
  layers: number;
  bins: number;
  rate: number;
  reports: number;
  width: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    seconds: 60,
    layers: 50,
    bins: 64,
    rate: 10,
    reports: 1000,
    width: 960,
  };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '') as keyof Options;
    const value = Number(argv[i + 1]);
    if (!(key in options) || !Number.isFinite(value) || value <= 0) {
      throw new Error(`dashboard bench: bad argument ${argv[i]} ${argv[i + 1] ?? ''}`);
    }
    options[key] = value;
    i++;
  }
  return options;
}

/** Percentile by nearest rank of a sorted copy. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
const ms = (v: number) => `${v.toFixed(1)} ms`;

/** Phases of opening a run, ms from the `postMessage` call. */
interface OpenTiming {
  /** The message has been copied into the page (structured clone) and is being dispatched. */
  received: number;
  /** The reducer has built the model. */
  reduced: number;
  /** The first frame with everything drawn is done. */
  drawn: number;
}

interface BenchWindow {
  __bench: {
    intervals: number[];
    work: number[];
    sent: number;
    received: number;
    measure(on: boolean): void;
    stream(rate: number): void;
    stop(): void;
    open(reports: number, layers: number): Promise<OpenTiming>;
  };
}

/**
 * Installs the generator and the probes in the page. Runs in the browser: self-contained.
 * The rAF wrapper must be in place before the bundle runs, so this is an init script.
 */
function installProbes(): void {
  const w = window as unknown as BenchWindow & Window;
  const work: number[] = [];
  const native = window.requestAnimationFrame.bind(window);
  let measuring = false;
  window.requestAnimationFrame = (cb: FrameRequestCallback): number =>
    native((t) => {
      if (!measuring) return cb(t);
      const start = performance.now();
      cb(t);
      // uPlot commits in a microtask: end after the ones the callback queued.
      queueMicrotask(() => work.push(performance.now() - start));
    });
  const intervals: number[] = [];
  let last = 0;
  const tick = (t: number) => {
    if (measuring && last > 0) intervals.push(t - last);
    last = t;
    native(tick);
  };
  native(tick);
  w.__bench = {
    intervals,
    work,
    sent: 0,
    received: 0,
    measure: (on: boolean) => {
      measuring = on;
      last = 0; // the interval across a pause is not a frame
    },
    stream: () => undefined,
    stop: () => undefined,
    open: () => Promise.resolve({ received: 0, reduced: 0, drawn: 0 }),
  };
  // Registered before the bundle's own listener: the moment a message reaches the page.
  window.addEventListener('message', (e: MessageEvent) => {
    // Reading `data` deserializes the message (Chromium does it lazily): copy time ends here.
    void (e.data as unknown);
    w.__bench.received = performance.now();
  });
  w.__bench.stream = (rate: number) => {
    measuring = true;
    const timer = setInterval(() => {
      const bench = w.__bench as unknown as { next(): unknown };
      window.postMessage(bench.next(), '*');
      w.__bench.sent++;
    }, 1000 / rate);
    w.__bench.stop = () => {
      clearInterval(timer);
      measuring = false;
    };
  };
}

/** Defines the record generator in the page (after load; needs no DOM). */
function defineGenerator(args: { layers: number; bins: number; runId: string }): void {
  const { layers, bins, runId } = args;
  const channels = 64;
  const names = Array.from(
    { length: layers },
    (_, k) => `binary_conv_${String(k).padStart(2, '0')}`,
  );
  const laplace = (x: number, b: number) =>
    x < 0 ? 0.5 * Math.exp(x / b) : 1 - 0.5 * Math.exp(-x / b);
  const layer = (name: string, k: number, i: number) => {
    const b = 0.02 + 0.00005 * i + 0.0004 * k;
    const min = -6 * b;
    const max = 6 * b;
    const width = (max - min) / bins;
    const params = 9 * channels * channels;
    const counts = Array.from({ length: bins }, (_, j) =>
      Math.round(params * (laplace(min + (j + 1) * width, b) - laplace(min + j * width, b))),
    );
    const decay = Math.exp(-i / 2000);
    return {
      name,
      params,
      mean: 0.001 * Math.sin(i / 10 + k),
      std: Math.SQRT2 * b,
      min,
      max,
      absMean: b,
      histogram: { min, max, counts },
      quantizationError: 0.4 - 0.1 * (1 - decay) + 0.001 * k,
      deadWeightRatio: 0.02 + 0.0002 * k + 0.01 * (1 - decay),
      starvedWeightRatio: 0.001,
      signBalance: 0.5 + 0.01 * Math.sin(i + k),
      signEntropyBits: 0.999,
      flipRate: 0.004 * decay + 0.00001 * k,
      frozenRatio: 1 - 0.6 * (1 - decay),
      alpha: Array.from({ length: channels }, (_, c) => b * (0.8 + (0.4 * ((c * 37) % 64)) / 63)),
    };
  };
  const start = {
    event: 'start',
    runId,
    preset: 'bench',
    config: {
      preset: 'bench',
      epochs: 100,
      batchSize: 64,
      learningRate: 0.001,
      seed: 1,
      dataset: { name: 'mnist' },
      limit: 0,
      testLimit: 0,
      telemetryEverySteps: 10,
      histogramBins: bins,
      deadTau: 0.99,
    },
    layers: names.map((name) => ({
      name,
      kind: 'binaryConv2d',
      shape: [3, 3, channels, channels],
      binary: true,
      quantizer: 'ste_sign(clip=1)',
      params: 9 * channels * channels,
    })),
    backend: { name: 'wasm', tfBackend: 'wasm', threads: 1, skipped: [] },
    stepsPerEpoch: 1000,
    totalSteps: 100000,
    time: 0,
  };
  const step = (i: number) => ({
    event: 'step',
    epoch: 1 + Math.floor((i * 10) / 1000),
    step: i * 10,
    loss: 2.3 * Math.exp(-i / 500) + 0.1,
    accuracy: 0.97 - 0.85 * Math.exp(-i / 400),
    learningRate: 0.001,
    examplesPerSecond: 2000,
    layers: names.map((name, k) => layer(name, k, i)),
    time: i * 100,
  });
  let i = 0;
  const w = window as unknown as {
    __bench: BenchWindow['__bench'] & { next(): unknown; snapshot(): unknown };
  };
  w.__bench.snapshot = () => ({
    kind: 'snapshot',
    trusted: true,
    run: { runId, dir: `/bench/${runId}`, status: 'running', records: [start] },
  });
  w.__bench.next = () => ({ kind: 'records', runId, records: [step(++i)] });
  w.__bench.open = (reports: number, openLayers: number) => {
    const keep = new Set(names.slice(0, openLayers));
    const trim = (r: ReturnType<typeof step>) => ({
      ...r,
      layers: r.layers.filter((l) => keep.has(l.name)),
    });
    let records: unknown[] = [
      {
        ...start,
        runId: `open-${openLayers}`,
        layers: start.layers.filter((l) => keep.has(l.name)),
      },
    ];
    for (let j = 1; j <= reports; j++) records.push(trim(step(j)));
    records.push({ event: 'done', status: 'completed', testAccuracy: 0.9, time: reports * 100 });
    // What the host sends: the snapshot thinned as DashboardViewProvider does.
    const thin = (window as unknown as { __thin?: (r: unknown[], max: number) => unknown[] })
      .__thin;
    const frames = (window as unknown as { __frames?: number }).__frames ?? 240;
    const sent = thin ? thin(records, frames) : records;
    records = []; // only what the host would send stays alive
    const msg = {
      kind: 'snapshot',
      trusted: true,
      run: { runId: `open-${openLayers}`, dir: '/bench/open', status: 'completed', records: sent },
    };
    // Collect the generator's garbage now, not during the measurement.
    (window as unknown as { gc?: () => void }).gc?.();
    return new Promise<OpenTiming>((resolve) => {
      const t0 = performance.now();
      // Registered after the dashboard's listener: runs after the reducer, and its rAF runs
      // after the dashboard's render in the same frame.
      window.addEventListener(
        'message',
        () => {
          const reduced = performance.now() - t0;
          const received = w.__bench.received - t0;
          requestAnimationFrame(() =>
            resolve({ received, reduced, drawn: performance.now() - t0 }),
          );
        },
        { once: true },
      );
      window.postMessage(msg, '*');
    });
  };
}

/** JS heap after a forced GC; frame measurement pauses meanwhile (the GC stops the page). */
async function heapUsed(page: Page): Promise<number> {
  await page.evaluate(() => (window as unknown as BenchWindow).__bench.measure(false));
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
  await cdp.detach();
  await page.evaluate(() => (window as unknown as BenchWindow).__bench.measure(true));
  return usedSize;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  // The machine is shared: the load says how much of the 2 cores the page could have.
  const loadBefore = loadavg()[0];
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  const { server, origin } = await startServer();
  // --expose-gc: the generator's garbage is collected before each timed open.
  const browser = await launchChromium(['--js-flags=--expose-gc']);
  const errors: string[] = [];
  try {
    const runId = 'bench-stream';
    const page = await openDashboard(browser, origin, 'dark', errors, options.width, installProbes);
    await page.evaluate(defineGenerator, { layers: options.layers, bins: options.bins, runId });
    await page.evaluate(() => {
      const w = window as unknown as { __bench: { snapshot(): unknown } };
      window.postMessage(w.__bench.snapshot(), '*');
    });
    await page.waitForFunction(
      (n) => document.querySelectorAll('.layer-card').length === n,
      options.layers,
    );
    // Baseline: the same page, nothing streaming (what the shared machine's load alone costs).
    await page.evaluate(() => (window as unknown as BenchWindow).__bench.measure(true));
    await page.waitForTimeout(5000);
    const idle = await page.evaluate(() => {
      const b = (window as unknown as BenchWindow).__bench;
      b.measure(false);
      return b.intervals.splice(0);
    });
    console.log(
      `streaming ${options.layers} layers × ${options.bins} bins at ${options.rate} updates/s ` +
        `for ${options.seconds} s (viewport ${options.width}×900, headless Chromium)…`,
    );
    await page.evaluate(
      (rate) => (window as unknown as BenchWindow).__bench.stream(rate),
      options.rate,
    );
    // Warm-up: JIT, first layout of every chart.
    await page.waitForTimeout(2000);
    const heap: { t: number; bytes: number }[] = [{ t: 2, bytes: await heapUsed(page) }];
    const t0 = Date.now();
    for (let elapsed = 2; elapsed < options.seconds;) {
      const wait = Math.min(30, options.seconds - elapsed);
      await page.waitForTimeout(wait * 1000);
      elapsed += wait;
      heap.push({ t: elapsed, bytes: await heapUsed(page) });
      process.stdout.write(`  ${elapsed} s: heap ${mb(heap.at(-1)?.bytes ?? 0)}\n`);
    }
    const wallSeconds = (Date.now() - t0) / 1000 + 2;
    const result = await page.evaluate(() => {
      const b = (window as unknown as BenchWindow).__bench;
      b.stop();
      return { intervals: b.intervals.slice(), work: b.work.slice(), sent: b.sent };
    });
    const cards = await page.locator('.layer-card').count();
    // What the panel looked like at the end of the stream (top of the page).
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, `bench-${options.layers}-layers.png`) });
    await page.evaluate(() => document.querySelector('.layer-grid')?.scrollIntoView());
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(SCREENSHOTS, `bench-${options.layers}-layers-cards.png`) });
    const lastStep = await page.locator('[data-metric="loss"] .stat-sub').innerText();
    await page.close();

    const open: Record<string, OpenTiming> = {};
    for (const layers of [4, options.layers]) {
      const p = await openDashboard(browser, origin, 'dark', errors, options.width, installProbes);
      await p.evaluate(defineGenerator, { layers: options.layers, bins: options.bins, runId });
      // The host's thinning, run in the page (a pure, self-contained function).
      await p.evaluate(
        `window.__thin = ${thinSnapshotRecords.toString()}; window.__frames = ${DASHBOARD_HISTOGRAM_FRAMES};`,
      );
      const times: OpenTiming[] = [];
      for (let r = 0; r < 3; r++) {
        times.push(
          await p.evaluate(
            ([reports, n]) => (window as unknown as BenchWindow).__bench.open(reports, n),
            [options.reports, layers] as const,
          ),
        );
      }
      const rows = await p.locator('.overview tbody tr').count();
      if (rows !== layers) throw new Error(`open: expected ${layers} table rows, got ${rows}`);
      // The run with the median total time.
      open[`${layers}`] = [...times].sort((a, b) => a.drawn - b.drawn)[1];
      await p.close();
    }

    const { intervals, work } = result;
    const report = {
      command: `node out/test/bench/dashboard.js ${process.argv.slice(2).join(' ')}`.trim(),
      options,
      wallSeconds: Number(wallSeconds.toFixed(1)),
      updatesSent: result.sent,
      lastReport: lastStep,
      layerCards: cards,
      idleFrameIntervalMs: {
        frames: idle.length,
        p50: percentile(idle, 50),
        p95: percentile(idle, 95),
        max: Math.max(...idle),
      },
      frames: intervals.length,
      frameIntervalMs: {
        p50: percentile(intervals, 50),
        p95: percentile(intervals, 95),
        max: Math.max(...intervals),
      },
      frameWorkMs: {
        frames: work.length,
        p50: percentile(work, 50),
        p95: percentile(work, 95),
        max: Math.max(...work),
      },
      heapBytes: heap,
      openMs: open,
      loadAverage1m: { start: loadBefore, end: loadavg()[0] },
      consoleErrors: errors,
    };
    console.log('');
    console.log(
      `load average (1 min)    ${loadBefore.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end`,
    );
    console.log(`updates sent            ${result.sent} (${lastStep})`);
    console.log(
      `idle frame interval     p50 ${ms(report.idleFrameIntervalMs.p50)}  p95 ${ms(report.idleFrameIntervalMs.p95)}  max ${ms(report.idleFrameIntervalMs.max)}  (${idle.length} frames, no stream: machine load alone)`,
    );
    console.log(
      `frame interval (rAF)    p50 ${ms(report.frameIntervalMs.p50)}  p95 ${ms(report.frameIntervalMs.p95)}  max ${ms(report.frameIntervalMs.max)}  (${intervals.length} frames)`,
    );
    console.log(
      `frame work (renders)    p50 ${ms(report.frameWorkMs.p50)}  p95 ${ms(report.frameWorkMs.p95)}  max ${ms(report.frameWorkMs.max)}  (${work.length} callbacks)`,
    );
    console.log(
      `JS heap after GC        start ${mb(heap[0].bytes)}  end ${mb(heap.at(-1)?.bytes ?? 0)}  max ${mb(Math.max(...heap.map((h) => h.bytes)))}`,
    );
    for (const [layers, t] of Object.entries(open)) {
      console.log(
        `open ${options.reports}-report run, ${layers} layers: ${ms(t.drawn)} ` +
          `(message copied in ${ms(t.received)}, model built at ${ms(t.reduced)}; median of 3)`,
      );
    }
    if (errors.length > 0) console.log(`console errors:\n${errors.join('\n')}`);
    console.log(`\n${JSON.stringify(report)}`);
  } finally {
    await browser.close();
    await new Promise<void>((done) => server.close(() => done()));
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
