/**
 * The one number-formatting module: the dashboard, the inspector and the extension's views and
 * status bar all format percentages, losses, counts and durations here. Locale-independent on
 * purpose: the panels are compared against `metrics.jsonl` and CLI output, so a value should read
 * the same everywhere. Pure (no DOM, no Node), so both the webviews and the host import it.
 */

import type { RunPhase, TrainConfig } from './protocol';

/** Shown wherever a value is missing or not finite. */
export const MISSING = '—';

function isNumber(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Inserts thin thousands separators into a string of digits with optional sign and fraction. */
function groupThousands(text: string): string {
  const [int, frac] = text.split('.');
  const sign = int.startsWith('-') ? '-' : '';
  const digits = sign ? int.slice(1) : int;
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return sign + grouped + (frac !== undefined ? `.${frac}` : '');
}

/**
 * A ratio in [0, 1] as a percentage: `formatPercent(0.97421)` → `"97.42%"`.
 * `digits` defaults to 2; tiny non-zero values switch to significant digits (`"0.0031%"`).
 */
export function formatPercent(ratio: number | null | undefined, digits = 2): string {
  if (!isNumber(ratio)) return MISSING;
  const pct = ratio * 100;
  if (pct !== 0 && Math.abs(pct) < 10 ** -digits) return `${formatSignificant(pct, 2)}%`;
  return `${pct.toFixed(digits)}%`;
}

/**
 * `sig` significant digits without trailing zeros, exponent notation outside [1e-4, 1e6):
 * `formatSignificant(0.012345)` → `"0.0123"`, `formatSignificant(2.5e-6)` → `"2.5e-6"`.
 */
export function formatSignificant(value: number | null | undefined, sig = 3): string {
  if (!isNumber(value)) return MISSING;
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs < 1e-4 || abs >= 1e6) {
    const [mantissa, exponent] = value.toExponential(sig - 1).split('e');
    return `${trimZeros(mantissa)}e${Number(exponent)}`;
  }
  if (abs >= 1) {
    // toPrecision would switch to exponent form at 10^sig; keep integers whole instead.
    const decimals = Math.max(0, sig - 1 - Math.floor(Math.log10(abs)));
    return groupThousands(trimZeros(value.toFixed(decimals)));
  }
  return trimZeros(value.toPrecision(sig));
}

function trimZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** A loss value: 4 significant digits (`0.2931`, `1.204`). */
export function formatLoss(value: number | null | undefined): string {
  return formatSignificant(value, 4);
}

/** An integer count with thousands separators: `12345` → `"12,345"`. */
export function formatInteger(value: number | null | undefined): string {
  if (!isNumber(value)) return MISSING;
  return groupThousands(Math.round(value).toString());
}

/** A compact count: `950` → `"950"`, `12_300` → `"12.3k"`, `1_250_000` → `"1.25M"`. */
export function formatCompact(value: number | null | undefined): string {
  if (!isNumber(value)) return MISSING;
  const abs = Math.abs(value);
  if (abs < 1000) return formatSignificant(value, 3);
  for (const [scale, unit] of [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const) {
    if (abs >= scale) return `${formatSignificant(value / scale, 3)}${unit}`;
  }
  return String(value);
}

/** A duration: `850` → `"850 ms"`, `65_000` → `"1m 05s"`, `3_725_000` → `"1h 02m"`. */
export function formatDuration(ms: number | null | undefined): string {
  if (!isNumber(ms) || ms < 0) return MISSING;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const totalSeconds = Math.round(ms / 1000);
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  const pad = (v: number): string => v.toString().padStart(2, '0');
  return h > 0 ? `${h}h ${pad(m)}m` : `${m}m ${pad(s)}s`;
}

/** A kernel shape in TF.js order: `[3, 3, 32, 64]` → `"3×3×32×64"`. */
export function formatShape(shape: readonly number[]): string {
  return shape.length === 0 ? MISSING : shape.join('×');
}

/**
 * Tick labels for a percentage axis holding ratios: as many decimals as the tick spacing needs,
 * `formatPercentTicks([0, 0.25, 0.5])` → `["0%", "25%", "50%"]`.
 */
export function formatPercentTicks(ratios: readonly number[]): string[] {
  const step = ratios.length > 1 ? Math.abs(ratios[1] - ratios[0]) * 100 : 1;
  const digits = step > 0 ? Math.min(6, Math.max(0, Math.ceil(-Math.log10(step) - 1e-9))) : 0;
  return ratios.map((r) => (isNumber(r) ? `${(r * 100).toFixed(digits)}%` : ''));
}

/** Tick labels for a plain numeric axis: significant digits, no trailing zeros. */
export function formatNumberTicks(values: readonly number[]): string[] {
  return values.map((v) => (isNumber(v) ? formatSignificant(v, 3) : ''));
}

/**
 * What sets one run apart at a glance (Runs view, legends, tooltips):
 * `mnist-cnn · seed 1 · lr 0.001 · limit 2,000` (`all examples` without a limit).
 */
export function formatRunFacts(
  config: Pick<TrainConfig, 'preset' | 'seed' | 'learningRate' | 'limit'> | undefined,
  preset = '',
): string {
  if (!config) return preset;
  return [
    config.preset || preset,
    `seed ${config.seed}`,
    `lr ${formatSignificant(config.learningRate)}`,
    config.limit > 0 ? `limit ${formatInteger(config.limit)}` : 'all examples',
  ]
    .filter((p) => p !== '')
    .join(' · ');
}

/**
 * What a `phase` record says the run is doing, in the words every front end uses (dashboard,
 * progress notification, CLI): `warming up the LNS mappers, step 120/200`,
 * `evaluating the checkpoint before fine-tuning, 4,000/10,000 test images`.
 */
export function formatPhase(phase: { phase: RunPhase; done: number; total: number }): string {
  const of = `${formatInteger(phase.done)}/${formatInteger(phase.total)}`;
  switch (phase.phase) {
    case 'mapperWarmup':
      return `warming up the LNS mappers, step ${of}`;
    case 'evaluateSource':
      return `evaluating the checkpoint before fine-tuning, ${of} test images`;
  }
}
