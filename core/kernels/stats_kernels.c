/*
 * The two passes of the per-layer weight statistics (docs/metrics.md; core/metrics/layerStats.ts
 * has the JavaScript version and says what each pass computes), for float32 tensors, with SIMD.
 *
 * Built by build.sh into stats-kernels.wasm (wasm32 + SIMD128). Unlike bnn-kernels.wasm this
 * module owns its memory: statsKernel.ts copies a tensor in after __heap_base and passes offsets.
 *
 * Every sum is accumulated in float64, as in JavaScript, but in two or four interleaved partial
 * sums (the SIMD lanes), so sums can differ from a strictly sequential loop in the last bits;
 * counts (histogram, positives, dead, starved) and extremes are exact. Squares and differences
 * are formed in float64 from the float32 values, so each term is the same as in JavaScript.
 * NaN propagates through min/max as Math.min/max do; the caller then recomputes the extremes.
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name), visibility("default")))

typedef unsigned int u32;
typedef int i32;

/* Lanes 0-1 and 2-3 of a float32x4 as two float64x2. */
static inline v128_t lo64(v128_t v) { return wasm_f64x2_promote_low_f32x4(v); }
static inline v128_t hi64(v128_t v) {
  return wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
}
static inline double hsum(v128_t v) {
  return wasm_f64x2_extract_lane(v, 0) + wasm_f64x2_extract_lane(v, 1);
}

/*
 * Pass 1. out[0..5] = sum, sumSq, absSum, min, max, positives. absSums[c] (zeroed by the caller)
 * gets the sum of |w| over output channel c: channels-last (`last_axis`, TF.js/Keras) or
 * channels-first (PyTorch/ONNX, `n / channels` consecutive values per channel).
 */
EXPORT(stats_pass1)
void stats_pass1(const float *w, u32 n, u32 channels, i32 last_axis, double *abs_sums,
                 double *out) {
  v128_t sum = wasm_f64x2_splat(0.0), sum_sq = wasm_f64x2_splat(0.0);
  v128_t abs_sum = wasm_f64x2_splat(0.0);
  v128_t vmin = wasm_f32x4_splat(__builtin_inff()), vmax = wasm_f32x4_splat(-__builtin_inff());
  v128_t pos = wasm_i32x4_splat(0);
  const v128_t zero = wasm_f32x4_splat(0.0f);
  double s_sum = 0, s_sq = 0, s_abs = 0;
  float s_min = __builtin_inff(), s_max = -__builtin_inff();
  u32 s_pos = 0;
  u32 per = n / channels;
  /* channels-first: one channel is a contiguous run; channels-last with channels % 4 == 0: each
   * aligned group of 4 values belongs to 4 consecutive channels. Otherwise: scalar channel sums. */
  int simd_channels = !last_axis || channels % 4 == 0;
  u32 runs = last_axis ? 1 : channels;
  u32 run_len = last_axis ? n : per;
  for (u32 r = 0; r < runs; r++) {
    const float *p = w + (unsigned long)r * run_len;
    v128_t ch = wasm_f64x2_splat(0.0);
    u32 i = 0, c = 0;
    for (; i + 4 <= run_len; i += 4) {
      v128_t v = wasm_v128_load(p + i);
      v128_t a = wasm_f32x4_abs(v);
      v128_t l = lo64(v), h = hi64(v);
      sum = wasm_f64x2_add(sum, wasm_f64x2_add(l, h));
      sum_sq = wasm_f64x2_add(sum_sq, wasm_f64x2_add(wasm_f64x2_mul(l, l), wasm_f64x2_mul(h, h)));
      v128_t al = lo64(a), ah = hi64(a);
      v128_t as = wasm_f64x2_add(al, ah);
      abs_sum = wasm_f64x2_add(abs_sum, as);
      vmin = wasm_f32x4_min(vmin, v);
      vmax = wasm_f32x4_max(vmax, v);
      pos = wasm_i32x4_sub(pos, wasm_f32x4_ge(v, zero));
      if (!last_axis) {
        ch = wasm_f64x2_add(ch, as);
      } else if (simd_channels) {
        double *d = abs_sums + c;
        wasm_v128_store(d, wasm_f64x2_add(wasm_v128_load(d), al));
        wasm_v128_store(d + 2, wasm_f64x2_add(wasm_v128_load(d + 2), ah));
        c += 4;
        if (c == channels) c = 0;
      }
    }
    double ch_tail = 0;
    for (; i < run_len; i++) {
      float x = p[i];
      double xd = x;
      float ax = __builtin_fabsf(x);
      s_sum += xd;
      s_sq += xd * xd;
      s_abs += ax;
      s_min = __builtin_wasm_min_f32(s_min, x);
      s_max = __builtin_wasm_max_f32(s_max, x);
      s_pos += x >= 0.0f;
      if (!last_axis) ch_tail += ax;
    }
    if (!last_axis) abs_sums[r] = hsum(ch) + ch_tail;
  }
  if (last_axis && !simd_channels) {
    u32 c = 0;
    for (u32 i = 0; i < n; i++) {
      abs_sums[c] += __builtin_fabsf(w[i]);
      if (++c == channels) c = 0;
    }
  }
  float mn = s_min, mx = s_max;
  for (int k = 0; k < 4; k++) {
    mn = __builtin_wasm_min_f32(mn, wasm_f32x4_extract_lane(vmin, 0));
    mx = __builtin_wasm_max_f32(mx, wasm_f32x4_extract_lane(vmax, 0));
    vmin = wasm_i32x4_shuffle(vmin, vmin, 1, 2, 3, 0);
    vmax = wasm_i32x4_shuffle(vmax, vmax, 1, 2, 3, 0);
  }
  out[0] = hsum(sum) + s_sum;
  out[1] = hsum(sum_sq) + s_sq;
  out[2] = hsum(abs_sum) + s_abs;
  out[3] = mn;
  out[4] = mx;
  out[5] = (double)((u32)wasm_i32x4_extract_lane(pos, 0) + (u32)wasm_i32x4_extract_lane(pos, 1) +
                    (u32)wasm_i32x4_extract_lane(pos, 2) + (u32)wasm_i32x4_extract_lane(pos, 3) +
                    s_pos);
}

/*
 * Pass 2. out[0..2] = Σ (|w| − α_c)², #{|w| > dead_above}, #{|w| >= clip_at}; a count for
 * bin = trunc((w − min) · scale) in one of four sub-histograms of `stride` slots each (the caller
 * adds them up, and sizes them for bin == bins, which it folds into the last bin).
 */
EXPORT(stats_pass2)
void stats_pass2(const float *w, u32 n, const double *alpha, u32 channels, i32 last_axis,
                 double dead_above, double clip_at, i32 *counts, u32 stride, double min,
                 double scale, double *out) {
  /* four sub-histograms, one per lane, `stride` apart: consecutive values often fall in the
   * same bin, and one array would chain every increment on the previous store */
  i32 *c0 = counts, *c1 = counts + stride, *c2 = counts + 2 * stride, *c3 = counts + 3 * stride;
  v128_t err = wasm_f64x2_splat(0.0);
  v128_t dead = wasm_i64x2_splat(0), starved = wasm_i64x2_splat(0);
  const v128_t vdead = wasm_f64x2_splat(dead_above), vclip = wasm_f64x2_splat(clip_at);
  double s_err = 0;
  unsigned long long s_dead = 0, s_starved = 0;
  u32 per = n / channels;
  int simd_channels = !last_axis || channels % 4 == 0;
  u32 runs = last_axis ? 1 : channels;
  u32 run_len = last_axis ? n : per;
  for (u32 r = 0; r < runs; r++) {
    const float *p = w + (unsigned long)r * run_len;
    v128_t a_splat = wasm_f64x2_splat(last_axis ? 0.0 : alpha[r]);
    u32 i = 0, c = 0;
    if (simd_channels) {
      for (; i + 4 <= run_len; i += 4) {
        v128_t v = wasm_v128_load(p + i);
        v128_t a = wasm_f32x4_abs(v);
        v128_t al = lo64(a), ah = hi64(a);
        v128_t alpha_l = a_splat, alpha_h = a_splat;
        if (last_axis) {
          alpha_l = wasm_v128_load(alpha + c);
          alpha_h = wasm_v128_load(alpha + c + 2);
          c += 4;
          if (c == channels) c = 0;
        }
        v128_t dl = wasm_f64x2_sub(al, alpha_l), dh = wasm_f64x2_sub(ah, alpha_h);
        err = wasm_f64x2_add(err, wasm_f64x2_add(wasm_f64x2_mul(dl, dl), wasm_f64x2_mul(dh, dh)));
        dead = wasm_i64x2_sub(dead, wasm_f64x2_gt(al, vdead));
        dead = wasm_i64x2_sub(dead, wasm_f64x2_gt(ah, vdead));
        starved = wasm_i64x2_sub(starved, wasm_f64x2_ge(al, vclip));
        starved = wasm_i64x2_sub(starved, wasm_f64x2_ge(ah, vclip));
        v128_t bl = wasm_f64x2_mul(wasm_f64x2_sub(lo64(v), wasm_f64x2_splat(min)),
                                   wasm_f64x2_splat(scale));
        v128_t bh = wasm_f64x2_mul(wasm_f64x2_sub(hi64(v), wasm_f64x2_splat(min)),
                                   wasm_f64x2_splat(scale));
        c0[(i32)wasm_f64x2_extract_lane(bl, 0)]++;
        c1[(i32)wasm_f64x2_extract_lane(bl, 1)]++;
        c2[(i32)wasm_f64x2_extract_lane(bh, 0)]++;
        c3[(i32)wasm_f64x2_extract_lane(bh, 1)]++;
      }
    }
    for (; i < run_len; i++) {
      double ax = __builtin_fabsf(p[i]);
      double a = last_axis ? alpha[i % channels] : alpha[r];
      double d = ax - a;
      s_err += d * d;
      s_dead += ax > dead_above;
      s_starved += ax >= clip_at;
      counts[(i32)(((double)p[i] - min) * scale)]++;
    }
  }
  out[0] = hsum(err) + s_err;
  out[1] = (double)((unsigned long long)wasm_i64x2_extract_lane(dead, 0) +
                    (unsigned long long)wasm_i64x2_extract_lane(dead, 1) + s_dead);
  out[2] = (double)((unsigned long long)wasm_i64x2_extract_lane(starved, 0) +
                    (unsigned long long)wasm_i64x2_extract_lane(starved, 1) + s_starved);
}
