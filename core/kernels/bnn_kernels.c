/*
 * Element-wise kernels of binary neural network training, for the tfjs wasm backend.
 *
 * Built by build.sh into bnn-kernels.wasm (wasm32 + SIMD128). The module imports the tfjs wasm
 * module's linear memory ("env"."memory"), so every pointer here is an offset into the tfjs
 * heap and the kernels read and write tensor buffers in place, without copies.
 *
 * That is only safe because this code owns no memory: no static data, no stack frame (every
 * value lives in wasm locals), no heap. The tfjs module's allocator owns every byte; a stack
 * or data segment of ours would land at a fixed address inside its heap. build.sh fails the
 * build if the linked module has a data segment or touches __stack_pointer.
 *
 * Semantics match tfjs' own ops on the cpu backend bit for bit, NaN included:
 *   bnn_sign:             sgn(x) = sign(sign(x) + 0.1): +1 for x >= 0 (-0 too) and for NaN, -1 for x < 0
 *   bnn_ste_grad:         dy * (|x| <= clip ? 1 : 0)     (NaN x gives dy * 0, NaN/inf dy * 0 gives NaN)
 *   bnn_approx_sign_grad: dy * relu(2 - 2|x|)            (NaN x gives NaN, as relu(NaN) is NaN)
 *   bnn_max_pool_grad:    as BNN Lab's MaxPoolGrad (wasmKernels.ts) and the cpu backend
 * Multiplying by an exact 0.0 or 1.0 (rather than selecting dy or 0) keeps -0 and NaN the same
 * as the op chain they replace.
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name), visibility("default")))

typedef unsigned int u32;

EXPORT(bnn_sign)
void bnn_sign(const float *x, float *out, u32 n) {
  const v128_t zero = wasm_f32x4_splat(0.0f);
  const v128_t plus = wasm_f32x4_splat(1.0f);
  const v128_t minus = wasm_f32x4_splat(-1.0f);
  u32 i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t v = wasm_v128_load(x + i);
    /* lanes with v < 0 (false for NaN and -0) take -1, the others +1 */
    wasm_v128_store(out + i, wasm_v128_bitselect(minus, plus, wasm_f32x4_lt(v, zero)));
  }
  for (; i < n; i++) {
    out[i] = x[i] < 0.0f ? -1.0f : 1.0f;
  }
}

EXPORT(bnn_ste_grad)
void bnn_ste_grad(const float *dy, const float *x, float *out, u32 n, float clip) {
  const v128_t limit = wasm_f32x4_splat(clip);
  const v128_t one = wasm_f32x4_splat(1.0f);
  u32 i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t inside = wasm_f32x4_le(wasm_f32x4_abs(wasm_v128_load(x + i)), limit);
    /* all-ones lanes keep 1.0f, the others become +0.0f */
    v128_t mask = wasm_v128_and(inside, one);
    wasm_v128_store(out + i, wasm_f32x4_mul(wasm_v128_load(dy + i), mask));
  }
  for (; i < n; i++) {
    float a = __builtin_fabsf(x[i]);
    out[i] = dy[i] * (a <= clip ? 1.0f : 0.0f);
  }
}

EXPORT(bnn_approx_sign_grad)
void bnn_approx_sign_grad(const float *dy, const float *x, float *out, u32 n) {
  const v128_t zero = wasm_f32x4_splat(0.0f);
  const v128_t two = wasm_f32x4_splat(2.0f);
  u32 i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t a = wasm_f32x4_abs(wasm_v128_load(x + i));
    v128_t ramp = wasm_f32x4_sub(two, wasm_f32x4_mul(a, two));
    /* pmax(ramp, 0) = ramp < 0 ? 0 : ramp, so NaN stays NaN like tfjs' relu */
    v128_t g = wasm_f32x4_pmax(ramp, zero);
    wasm_v128_store(out + i, wasm_f32x4_mul(wasm_v128_load(dy + i), g));
  }
  for (; i < n; i++) {
    float ramp = 2.0f - __builtin_fabsf(x[i]) * 2.0f;
    out[i] = dy[i] * (ramp < 0.0f ? 0.0f : ramp);
  }
}

/*
 * Gradient of a 2-D max pool, NHWC float32: for each pooling window and channel, dy goes to the
 * first maximum of x in row-major window order (strict >, so ties go to the first, and a window
 * whose values are all NaN or all -inf passes no gradient), added into dx, which the caller
 * zeroes. Windows may overlap (stride < filter) and be cut by the padding (pad_top/pad_left >= 0,
 * windows clipped to the input). Four channels at a time; x and dx are
 * [batch, in_h, in_w, channels], dy is [batch, out_h, out_w, channels].
 */
EXPORT(bnn_max_pool_grad)
void bnn_max_pool_grad(const float *x, const float *dy, float *dx, u32 batch, u32 in_h, u32 in_w,
                       u32 channels, u32 out_h, u32 out_w, u32 filter_h, u32 filter_w,
                       u32 stride_h, u32 stride_w, u32 pad_top, u32 pad_left) {
  const v128_t minus_inf = wasm_f32x4_splat(-__builtin_inff());
  const v128_t none = wasm_i32x4_splat(-1);
  const v128_t lane = wasm_i32x4_make(0, 1, 2, 3);
  for (u32 b = 0; b < batch; b++) {
    for (u32 oh = 0; oh < out_h; oh++) {
      int row_start = (int)(oh * stride_h) - (int)pad_top;
      int row_begin = row_start < 0 ? 0 : row_start;
      int row_end = row_start + (int)filter_h;
      if (row_end > (int)in_h) row_end = (int)in_h;
      for (u32 ow = 0; ow < out_w; ow++) {
        int col_start = (int)(ow * stride_w) - (int)pad_left;
        int col_begin = col_start < 0 ? 0 : col_start;
        int col_end = col_start + (int)filter_w;
        if (col_end > (int)in_w) col_end = (int)in_w;
        const float *g = dy + ((b * out_h + oh) * out_w + ow) * channels;
        u32 c = 0;
        for (; c + 4 <= channels; c += 4) {
          v128_t best = minus_inf;
          v128_t at = none;
          for (int r = row_begin; r < row_end; r++) {
            for (int q = col_begin; q < col_end; q++) {
              int base = (int)(((b * in_h + (u32)r) * in_w + (u32)q) * channels + c);
              v128_t v = wasm_v128_load(x + base);
              v128_t gt = wasm_f32x4_gt(v, best);
              best = wasm_v128_bitselect(v, best, gt);
              at = wasm_v128_bitselect(wasm_i32x4_add(wasm_i32x4_splat(base), lane), at, gt);
            }
          }
          int i0 = wasm_i32x4_extract_lane(at, 0), i1 = wasm_i32x4_extract_lane(at, 1);
          int i2 = wasm_i32x4_extract_lane(at, 2), i3 = wasm_i32x4_extract_lane(at, 3);
          if (i0 >= 0) dx[i0] += g[c];
          if (i1 >= 0) dx[i1] += g[c + 1];
          if (i2 >= 0) dx[i2] += g[c + 2];
          if (i3 >= 0) dx[i3] += g[c + 3];
        }
        for (; c < channels; c++) {
          float best = -__builtin_inff();
          int at = -1;
          for (int r = row_begin; r < row_end; r++) {
            for (int q = col_begin; q < col_end; q++) {
              int index = (int)(((b * in_h + (u32)r) * in_w + (u32)q) * channels + c);
              if (x[index] > best) {
                best = x[index];
                at = index;
              }
            }
          }
          if (at >= 0) dx[at] += g[c];
        }
      }
    }
  }
}

/*
 * For the benchmark (test/bench/train.ts), not for training: `iterations` rounds of
 * acc = acc * m + c on 12 independent f32x4 accumulators, 96 floating-point operations per
 * round, no memory access. Its rate is the practical peak of wasm SIMD128 (no FMA, 4 lanes) on
 * the machine the bench runs on, against which the bench sets the convolution kernels' rates.
 * Returns a value that depends on every accumulator so nothing is optimized away.
 */
EXPORT(bnn_peak_probe)
float bnn_peak_probe(u32 iterations, float m, float c) {
  const v128_t vm = wasm_f32x4_splat(m);
  const v128_t vc = wasm_f32x4_splat(c);
  v128_t a0 = wasm_f32x4_splat(0.0f), a1 = wasm_f32x4_splat(0.1f), a2 = wasm_f32x4_splat(0.2f);
  v128_t a3 = wasm_f32x4_splat(0.3f), a4 = wasm_f32x4_splat(0.4f), a5 = wasm_f32x4_splat(0.5f);
  v128_t a6 = wasm_f32x4_splat(0.6f), a7 = wasm_f32x4_splat(0.7f), a8 = wasm_f32x4_splat(0.8f);
  v128_t a9 = wasm_f32x4_splat(0.9f), a10 = wasm_f32x4_splat(1.0f), a11 = wasm_f32x4_splat(1.1f);
  for (u32 i = 0; i < iterations; i++) {
#define STEP(a) a = wasm_f32x4_add(wasm_f32x4_mul(a, vm), vc)
    STEP(a0); STEP(a1); STEP(a2); STEP(a3); STEP(a4); STEP(a5);
    STEP(a6); STEP(a7); STEP(a8); STEP(a9); STEP(a10); STEP(a11);
#undef STEP
  }
  v128_t s = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)),
                            wasm_f32x4_add(wasm_f32x4_add(a4, a5), wasm_f32x4_add(a6, a7)));
  s = wasm_f32x4_add(s, wasm_f32x4_add(wasm_f32x4_add(a8, a9), wasm_f32x4_add(a10, a11)));
  return wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1) +
         wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3);
}
