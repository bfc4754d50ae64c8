/**
 * TensorBoard-style smoothing of a noisy training curve: an exponential moving average with
 * bias correction, so the first points are not dragged towards 0. Pure: no DOM.
 */

/** The slider's range: 0 = raw values, 0.99 = very smooth (TensorBoard's default is 0.6). */
export const MAX_SMOOTHING = 0.99;

/**
 * Debiased EMA of `values` with weight `weight` in [0, MAX_SMOOTHING]:
 * `m_t = weight · m_{t−1} + (1 − weight) · v_t`, reported as `m_t / (1 − weight^n)` where `n` counts
 * the finite values so far. Gaps (`null`, NaN, ±Infinity) stay gaps and do not move the average.
 * `weight` ≤ 0 returns a copy of the values.
 *
 * @example emaSmooth([1, 3], 0.5) // → [1, 2.333…]: (0.5·0.5 + 0.5·3) / (1 − 0.25)
 */
export function emaSmooth(
  values: ArrayLike<number | null | undefined>,
  weight: number,
): (number | null)[] {
  const w = Number.isFinite(weight) ? Math.min(MAX_SMOOTHING, Math.max(0, weight)) : 0;
  const out: (number | null)[] = new Array<number | null>(values.length);
  let average = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v == null || !Number.isFinite(v)) {
      out[i] = null;
      continue;
    }
    if (w === 0) {
      out[i] = v;
      continue;
    }
    n++;
    average = average * w + (1 - w) * v;
    out[i] = average / (1 - w ** n);
  }
  return out;
}
