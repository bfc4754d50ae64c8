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
typedef unsigned long long u64;

/*
 * acc + a * b on 4 lanes, the multiply-add of every convolution's inner loop. build.sh builds the
 * module twice: bnn-kernels.wasm with SIMD128 alone (a multiply, then an add), and
 * bnn-kernels-relaxed.wasm with relaxed SIMD's f32x4.relaxed_madd, which the engine compiles to a
 * fused multiply-add where the CPU has one (one instruction instead of two, one rounding instead of
 * two). The loader (bnnKernels.ts) takes the relaxed module wherever the runtime validates it.
 */
#ifdef BNN_RELAXED_SIMD
#define MADD(a, b, acc) \
  ((v128_t)__builtin_wasm_relaxed_madd_f32x4((__f32x4)(a), (__f32x4)(b), (__f32x4)(acc)))
#else
#define MADD(a, b, acc) wasm_f32x4_add(acc, wasm_f32x4_mul(a, b))
#endif

/*
 * Bounds guard. Every index below is a 32-bit product (b * in_h * in_w * in_c, …), and a pointer
 * plus an index wraps at 4 GB in wasm32: sizes that describe more than the memory holds would
 * wrap into other tensors of the tfjs heap instead of failing. So each kernel first checks, with
 * 64-bit products, that every buffer it touches lies inside the linear memory (and that the
 * convolution geometry stays inside its input); past that check no 32-bit product can wrap. A
 * failed check traps ("unreachable") before any byte is written. The caller (wasmKernels.ts)
 * keeps batch sizes far below this (core/training/batchLimit.ts); the guard is the last line.
 */
#define ELEMENTS_CAP (1ull << 32)
/* a * b, saturated at ELEMENTS_CAP (a <= ELEMENTS_CAP and b < 2^32, so a * b fits in 64 bits). */
static inline u64 mul_cap(u64 a, u32 b) {
  const u64 r = a * b;
  return r > ELEMENTS_CAP ? ELEMENTS_CAP : r;
}
static inline u64 count4(u32 a, u32 b, u32 c, u32 d) {
  return mul_cap(mul_cap(mul_cap(a, b), c), d);
}
/* True when `elements` values of `width` bytes from `p` lie inside the linear memory. */
static inline int inside(const void *p, u64 elements, u32 width) {
  const u64 end = (u64)(__UINTPTR_TYPE__)p + elements * width;
  return end <= (u64)__builtin_wasm_memory_size(0) * 65536ull;
}
#define REQUIRE(condition)                                                                         \
  do {                                                                                             \
    if (!(condition)) __builtin_trap();                                                            \
  } while (0)
/* The last tap of a convolution window (dilated) lands inside an input of `in` pixels. */
static inline int taps_inside(u32 out, u32 stride, u32 filter, u32 dil, u32 in) {
  return out == 0 || filter == 0 ||
         (u64)(out - 1) * stride + (u64)(filter - 1) * dil < (u64)in;
}

EXPORT(bnn_sign)
void bnn_sign(const float *x, float *out, u32 n) {
  REQUIRE(inside(x, n, 4) && inside(out, n, 4));
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
  REQUIRE(inside(dy, n, 4) && inside(x, n, 4) && inside(out, n, 4));
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

/*
 * The clipped straight-through estimator's input, kept for the backward pass as bits: per 16
 * values one u32, bit k (k < 16) set when value k is negative (sgn = -1; -0 and NaN are +1, as in
 * bnn_sign) and bit 16 + k when |value k| <= clip (the gradient passes; false for NaN, as in
 * bnn_ste_grad). 2 bits per value instead of a float32.
 */
EXPORT(bnn_pack_ste)
void bnn_pack_ste(const float *x, u32 *bits, u32 n, float clip) {
  const u32 words = n / 16 + (n % 16 != 0);
  REQUIRE(inside(x, n, 4) && inside(bits, words, 4));
  const v128_t zero = wasm_f32x4_splat(0.0f);
  const v128_t limit = wasm_f32x4_splat(clip);
  u32 i = 0;
  u32 w = 0;
  for (; i + 16 <= n; i += 16, w++) {
    u32 negative = 0;
    u32 passes = 0;
    for (u32 j = 0; j < 4; j++) {
      v128_t v = wasm_v128_load(x + i + 4 * j);
      negative |= (u32)wasm_i32x4_bitmask(wasm_f32x4_lt(v, zero)) << (4 * j);
      passes |= (u32)wasm_i32x4_bitmask(wasm_f32x4_le(wasm_f32x4_abs(v), limit)) << (4 * j);
    }
    bits[w] = negative | (passes << 16);
  }
  if (i < n) {
    u32 negative = 0;
    u32 passes = 0;
    for (u32 k = 0; i + k < n; k++) {
      float v = x[i + k];
      negative |= (u32)(v < 0.0f) << k;
      passes |= (u32)(__builtin_fabsf(v) <= clip) << k;
    }
    bits[w] = negative | (passes << 16);
  }
}

/* Lanes whose bit is set in the low 4 bits of `nibble`: all-ones, the others zero. */
static inline v128_t nibble_mask(u32 nibble) {
  const v128_t lanes = wasm_i32x4_make(1, 2, 4, 8);
  return wasm_i32x4_ne(wasm_v128_and(wasm_i32x4_splat((int)nibble), lanes), wasm_i32x4_splat(0));
}

/* sgn(x) from bnn_pack_ste's bits: the values bnn_sign gives for the packed x. */
EXPORT(bnn_unpack_signs)
void bnn_unpack_signs(const u32 *bits, float *out, u32 n) {
  const u32 words = n / 16 + (n % 16 != 0);
  REQUIRE(inside(bits, words, 4) && inside(out, n, 4));
  const v128_t plus = wasm_f32x4_splat(1.0f);
  const v128_t minus = wasm_f32x4_splat(-1.0f);
  u32 i = 0;
  for (; i + 16 <= n; i += 16) {
    const u32 b = bits[i / 16];
    for (u32 j = 0; j < 4; j++) {
      v128_t negative = nibble_mask((b >> (4 * j)) & 15u);
      wasm_v128_store(out + i + 4 * j, wasm_v128_bitselect(minus, plus, negative));
    }
  }
  for (; i < n; i++) out[i] = (bits[i / 16] >> (i % 16)) & 1u ? -1.0f : 1.0f;
}

/* dy * 1[|x| <= clip] from bnn_pack_ste's bits: what bnn_ste_grad gives for the packed x. */
EXPORT(bnn_ste_grad_packed)
void bnn_ste_grad_packed(const float *dy, const u32 *bits, float *out, u32 n) {
  const u32 words = n / 16 + (n % 16 != 0);
  REQUIRE(inside(dy, n, 4) && inside(bits, words, 4) && inside(out, n, 4));
  const v128_t one = wasm_f32x4_splat(1.0f);
  u32 i = 0;
  for (; i + 16 <= n; i += 16) {
    const u32 b = bits[i / 16] >> 16;
    for (u32 j = 0; j < 4; j++) {
      /* all-ones lanes keep 1.0f, the others become +0.0f */
      v128_t mask = wasm_v128_and(nibble_mask((b >> (4 * j)) & 15u), one);
      wasm_v128_store(out + i + 4 * j, wasm_f32x4_mul(wasm_v128_load(dy + i + 4 * j), mask));
    }
  }
  for (; i < n; i++) out[i] = dy[i] * ((bits[i / 16] >> (16 + i % 16)) & 1u ? 1.0f : 0.0f);
}

EXPORT(bnn_approx_sign_grad)
void bnn_approx_sign_grad(const float *dy, const float *x, float *out, u32 n) {
  REQUIRE(inside(dy, n, 4) && inside(x, n, 4) && inside(out, n, 4));
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
 * Gradient of a 2-D average pool, NHWC float32, as tfjs defines it: each dy[b, oh, ow, c] times
 * 1 / (filter_h * filter_w) (the whole window's size, padding included) goes to every input pixel
 * of its window that lies inside the input, added into dx, which this kernel zeroes first. Windows
 * may overlap and be cut by the padding. Four channels at a time.
 */
EXPORT(bnn_avg_pool_grad)
void bnn_avg_pool_grad(const float *dy, float *dx, u32 batch, u32 in_h, u32 in_w, u32 channels,
                       u32 out_h, u32 out_w, u32 filter_h, u32 filter_w, u32 stride_h,
                       u32 stride_w, u32 pad_top, u32 pad_left) {
  const u64 in_n = count4(batch, in_h, in_w, channels);
  REQUIRE(inside(dx, in_n, 4) && inside(dy, count4(batch, out_h, out_w, channels), 4));
  REQUIRE(in_h < (1u << 30) && in_w < (1u << 30) && filter_h > 0 && filter_w > 0);
  u32 i = 0;
  for (; i + 4 <= (u32)in_n; i += 4) wasm_v128_store(dx + i, wasm_f32x4_splat(0.0f));
  for (; i < (u32)in_n; i++) dx[i] = 0.0f;
  const float scale = 1.0f / (float)(filter_h * filter_w);
  const v128_t scale4 = wasm_f32x4_splat(scale);
  for (u32 b = 0; b < batch; b++) {
    for (u32 oh = 0; oh < out_h; oh++) {
      const int row_start = (int)(oh * stride_h) - (int)pad_top;
      const int row_begin = row_start < 0 ? 0 : row_start;
      int row_end = row_start + (int)filter_h;
      if (row_end > (int)in_h) row_end = (int)in_h;
      for (u32 ow = 0; ow < out_w; ow++) {
        const int col_start = (int)(ow * stride_w) - (int)pad_left;
        const int col_begin = col_start < 0 ? 0 : col_start;
        int col_end = col_start + (int)filter_w;
        if (col_end > (int)in_w) col_end = (int)in_w;
        const float *g = dy + ((b * out_h + oh) * out_w + ow) * channels;
        for (int r = row_begin; r < row_end; r++) {
          for (int q = col_begin; q < col_end; q++) {
            float *d = dx + ((b * in_h + (u32)r) * in_w + (u32)q) * channels;
            u32 c = 0;
            for (; c + 4 <= channels; c += 4) {
              const v128_t v = wasm_f32x4_mul(wasm_v128_load(g + c), scale4);
              wasm_v128_store(d + c, wasm_f32x4_add(wasm_v128_load(d + c), v));
            }
            for (; c < channels; c++) d[c] += g[c] * scale;
          }
        }
      }
    }
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
  {
    const u64 in_n = count4(batch, in_h, in_w, channels);
    const u64 out_n = count4(batch, out_h, out_w, channels);
    REQUIRE(inside(x, in_n, 4) && inside(dx, in_n, 4) && inside(dy, out_n, 4));
    REQUIRE(in_h < (1u << 30) && in_w < (1u << 30)); /* window bounds below are signed ints */
  }
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
              const u32 base = ((b * in_h + (u32)r) * in_w + (u32)q) * channels + c;
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
              const u32 index = ((b * in_h + (u32)r) * in_w + (u32)q) * channels + c;
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
 * Batch norm over the last axis of x viewed as [rows, channels], float32, in the order of
 * operations of the tfjs ops they replace (syncBatchNorm.ts), so the results are the same:
 *   bnn_channel_sums:    acc[c] = sum over rows of x[r, c]                       (double accumulators)
 *   bnn_channel_sq_dev:  acc[c] = sum over rows of f32((x - mean[c])^2)          (double accumulators)
 *   bnn_bn_grad_sums:    acc[c] = sum of dy, acc[channels + c] = sum of f32(dy * xhat),
 *                        rounded into out_dy and out_dot
 *   bnn_bn_forward:      normed = (x - mean[c]) * inv_std[c];  y = normed * gamma[c] + beta[c]
 *   bnn_bn_backward:     dx = ((dy - mean_dy[c]) - xhat * mean_dy_xhat[c]) * scale[c]
 * The sums accumulate in `acc` (doubles in the tfjs heap, which the caller provides and zeroes)
 * and are rounded once to float32 into `out`, as tfjs rounds its float64 sums. Two channels per
 * f64x2 operation; channels are the contiguous axis. The sums take two rows per pass over the
 * accumulators (add_promoted2), still adding row r before row r + 1.
 */
static inline void add_promoted(double *acc, v128_t v) {
  wasm_v128_store(acc, wasm_f64x2_add(wasm_v128_load(acc), wasm_f64x2_promote_low_f32x4(v)));
  wasm_v128_store(acc + 2, wasm_f64x2_add(wasm_v128_load(acc + 2),
                                          wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1))));
}

/* add_promoted of v, then of w: the same two roundings, with one load and store of acc. */
static inline void add_promoted2(double *acc, v128_t v, v128_t w) {
  v128_t lo = wasm_v128_load(acc), hi = wasm_v128_load(acc + 2);
  lo = wasm_f64x2_add(lo, wasm_f64x2_promote_low_f32x4(v));
  hi = wasm_f64x2_add(hi, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1)));
  lo = wasm_f64x2_add(lo, wasm_f64x2_promote_low_f32x4(w));
  hi = wasm_f64x2_add(hi, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(w, w, 2, 3, 0, 1)));
  wasm_v128_store(acc, lo);
  wasm_v128_store(acc + 2, hi);
}

static inline void round_sums(const double *acc, float *out, u32 n) {
  for (u32 c = 0; c < n; c++) out[c] = (float)acc[c];
}

EXPORT(bnn_channel_sums)
void bnn_channel_sums(const float *x, u32 rows, u32 channels, double *acc, float *out) {
  REQUIRE(inside(x, mul_cap(rows, channels), 4) && inside(acc, channels, 8) &&
          inside(out, channels, 4));
  u32 r = 0;
  for (; r + 2 <= rows; r += 2) {
    const float *row = x + r * channels, *next = row + channels;
    u32 c = 0;
    for (; c + 4 <= channels; c += 4) {
      add_promoted2(acc + c, wasm_v128_load(row + c), wasm_v128_load(next + c));
    }
    for (; c < channels; c++) {
      acc[c] += row[c];
      acc[c] += next[c];
    }
  }
  for (; r < rows; r++) {
    const float *row = x + r * channels;
    u32 c = 0;
    for (; c + 4 <= channels; c += 4) add_promoted(acc + c, wasm_v128_load(row + c));
    for (; c < channels; c++) acc[c] += row[c];
  }
  round_sums(acc, out, channels);
}

EXPORT(bnn_channel_sq_dev)
void bnn_channel_sq_dev(const float *x, const float *mean, u32 rows, u32 channels, double *acc,
                        float *out) {
  REQUIRE(inside(x, mul_cap(rows, channels), 4) && inside(mean, channels, 4) &&
          inside(acc, channels, 8) && inside(out, channels, 4));
  u32 r = 0;
  for (; r + 2 <= rows; r += 2) {
    const float *row = x + r * channels, *next = row + channels;
    u32 c = 0;
    for (; c + 4 <= channels; c += 4) {
      const v128_t m = wasm_v128_load(mean + c);
      const v128_t d = wasm_f32x4_sub(wasm_v128_load(row + c), m);
      const v128_t e = wasm_f32x4_sub(wasm_v128_load(next + c), m);
      add_promoted2(acc + c, wasm_f32x4_mul(d, d), wasm_f32x4_mul(e, e));
    }
    for (; c < channels; c++) {
      const float d = row[c] - mean[c], e = next[c] - mean[c];
      acc[c] += d * d;
      acc[c] += e * e;
    }
  }
  for (; r < rows; r++) {
    const float *row = x + r * channels;
    u32 c = 0;
    for (; c + 4 <= channels; c += 4) {
      const v128_t d = wasm_f32x4_sub(wasm_v128_load(row + c), wasm_v128_load(mean + c));
      add_promoted(acc + c, wasm_f32x4_mul(d, d));
    }
    for (; c < channels; c++) {
      const float d = row[c] - mean[c];
      acc[c] += d * d;
    }
  }
  round_sums(acc, out, channels);
}

/*
 * The sums of a batch norm's gradient over `rows` rows of `width` channels, dy's rows `dy_stride`
 * apart: acc[c] += dy, acc[width + c] += f32(dy * x), two rows per pass, each channel in row
 * order. With dx (bnn_scale_grad_part) it also writes dx = dy * gamma; bnn_bn_grad_sums passes
 * none, and inlining drops those stores.
 */
static inline __attribute__((always_inline)) void grad_sums_rows(const float *dy, u32 dy_stride,
                                                                 const float *x, const float *gamma,
                                                                 u32 rows, u32 width, double *acc,
                                                                 float *dx) {
  double *acc_dot = acc + width;
  u32 r = 0;
  for (; r + 2 <= rows; r += 2) {
    const float *g = dy + r * dy_stride, *h = x + r * width;
    const float *g1 = g + dy_stride, *h1 = h + width;
    float *d = dx ? dx + r * width : 0;
    u32 c = 0;
    for (; c + 4 <= width; c += 4) {
      const v128_t gv = wasm_v128_load(g + c), gv1 = wasm_v128_load(g1 + c);
      if (dx) {
        const v128_t gamma_c = wasm_v128_load(gamma + c);
        wasm_v128_store(d + c, wasm_f32x4_mul(gv, gamma_c));
        wasm_v128_store(d + width + c, wasm_f32x4_mul(gv1, gamma_c));
      }
      add_promoted2(acc + c, gv, gv1);
      add_promoted2(acc_dot + c, wasm_f32x4_mul(gv, wasm_v128_load(h + c)),
                    wasm_f32x4_mul(gv1, wasm_v128_load(h1 + c)));
    }
    for (; c < width; c++) {
      if (dx) {
        d[c] = g[c] * gamma[c];
        d[width + c] = g1[c] * gamma[c];
      }
      acc[c] += g[c];
      acc[c] += g1[c];
      acc_dot[c] += g[c] * h[c];
      acc_dot[c] += g1[c] * h1[c];
    }
  }
  for (; r < rows; r++) {
    const float *g = dy + r * dy_stride, *h = x + r * width;
    float *d = dx ? dx + r * width : 0;
    u32 c = 0;
    for (; c + 4 <= width; c += 4) {
      const v128_t gv = wasm_v128_load(g + c);
      if (dx) wasm_v128_store(d + c, wasm_f32x4_mul(gv, wasm_v128_load(gamma + c)));
      add_promoted(acc + c, gv);
      add_promoted(acc_dot + c, wasm_f32x4_mul(gv, wasm_v128_load(h + c)));
    }
    for (; c < width; c++) {
      if (dx) d[c] = g[c] * gamma[c];
      acc[c] += g[c];
      acc_dot[c] += g[c] * h[c];
    }
  }
}

EXPORT(bnn_bn_grad_sums)
void bnn_bn_grad_sums(const float *dy, const float *xhat, u32 rows, u32 channels, double *acc,
                      float *out_dy, float *out_dot) {
  REQUIRE(inside(dy, mul_cap(rows, channels), 4) && inside(xhat, mul_cap(rows, channels), 4) &&
          inside(acc, mul_cap(2, channels), 8) && inside(out_dy, channels, 4) &&
          inside(out_dot, channels, 4));
  grad_sums_rows(dy, channels, xhat, 0, rows, channels, acc, 0);
  round_sums(acc, out_dy, channels);
  round_sums(acc + channels, out_dot, channels);
}

EXPORT(bnn_bn_forward)
void bnn_bn_forward(const float *x, const float *mean, const float *inv_std, const float *gamma,
                    const float *beta, u32 rows, u32 channels, float *normed, float *y) {
  REQUIRE(inside(x, mul_cap(rows, channels), 4) && inside(normed, mul_cap(rows, channels), 4) &&
          inside(y, mul_cap(rows, channels), 4) && inside(mean, channels, 4) &&
          inside(inv_std, channels, 4) && inside(gamma, channels, 4) && inside(beta, channels, 4));
  for (u32 r = 0; r < rows; r++) {
    const u32 o = r * channels;
    u32 c = 0;
    for (; c + 4 <= channels; c += 4) {
      const v128_t n = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(x + o + c), wasm_v128_load(mean + c)),
                                      wasm_v128_load(inv_std + c));
      wasm_v128_store(normed + o + c, n);
      wasm_v128_store(y + o + c, wasm_f32x4_add(wasm_f32x4_mul(n, wasm_v128_load(gamma + c)),
                                                wasm_v128_load(beta + c)));
    }
    for (; c < channels; c++) {
      const float n = (x[o + c] - mean[c]) * inv_std[c];
      normed[o + c] = n;
      y[o + c] = n * gamma[c] + beta[c];
    }
  }
}

EXPORT(bnn_bn_backward)
void bnn_bn_backward(const float *dy, const float *xhat, const float *mean_dy,
                     const float *mean_dy_xhat, const float *scale, u32 rows, u32 channels,
                     float *dx) {
  REQUIRE(inside(dy, mul_cap(rows, channels), 4) && inside(xhat, mul_cap(rows, channels), 4) &&
          inside(dx, mul_cap(rows, channels), 4) && inside(mean_dy, channels, 4) &&
          inside(mean_dy_xhat, channels, 4) && inside(scale, channels, 4));
  for (u32 r = 0; r < rows; r++) {
    const u32 o = r * channels;
    u32 c = 0;
    for (; c + 4 <= channels; c += 4) {
      const v128_t centred = wasm_f32x4_sub(wasm_v128_load(dy + o + c), wasm_v128_load(mean_dy + c));
      const v128_t inner = wasm_f32x4_sub(centred, wasm_f32x4_mul(wasm_v128_load(xhat + o + c),
                                                                   wasm_v128_load(mean_dy_xhat + c)));
      wasm_v128_store(dx + o + c, wasm_f32x4_mul(inner, wasm_v128_load(scale + c)));
    }
    for (; c < channels; c++) {
      dx[o + c] = ((dy[o + c] - mean_dy[c]) - xhat[o + c] * mean_dy_xhat[c]) * scale[c];
    }
  }
}

/*
 * One part of a DenseNet batch norm's scale and shift over a concatenation (the parts' x̂ side
 * by side along channels, never concatenated), written into the part's columns of y:
 *   y[r * y_stride + c] = x[r * width + c] * gamma[c] + beta[c]
 * with y, gamma and beta already at the part's first channel; float32, the multiply and the add
 * rounded separately as tfjs' mul and add round them.
 */
EXPORT(bnn_scale_into)
void bnn_scale_into(const float *x, const float *gamma, const float *beta, u32 rows, u32 width,
                    float *y, u32 y_stride) {
  REQUIRE(width <= y_stride && inside(x, mul_cap(rows, width), 4) && inside(gamma, width, 4) &&
          inside(beta, width, 4) &&
          (rows == 0 || inside(y, mul_cap(rows - 1, y_stride) + width, 4)));
  for (u32 r = 0; r < rows; r++) {
    const float *xr = x + r * width;
    float *yr = y + r * y_stride;
    u32 c = 0;
    for (; c + 4 <= width; c += 4) {
      const v128_t v = wasm_f32x4_mul(wasm_v128_load(xr + c), wasm_v128_load(gamma + c));
      wasm_v128_store(yr + c, wasm_f32x4_add(v, wasm_v128_load(beta + c)));
    }
    for (; c < width; c++) {
      const float v = xr[c] * gamma[c];
      yr[c] = v + beta[c];
    }
  }
}

/*
 * The gradient of bnn_scale_into for one part, from the part's columns of dy:
 *   dx[r * width + c] = dy[r * dy_stride + c] * gamma[c]
 *   acc[c] += dy, acc[width + c] += f32(dy * x)   (dβ and dγ, as bnn_bn_grad_sums sums them)
 * rounded into out_dbeta and out_dgamma; dy and gamma already at the part's first channel.
 */
EXPORT(bnn_scale_grad_part)
void bnn_scale_grad_part(const float *dy, u32 dy_stride, const float *x, const float *gamma,
                         u32 rows, u32 width, double *acc, float *dx, float *out_dbeta,
                         float *out_dgamma) {
  REQUIRE(dx != 0 && width <= dy_stride && inside(x, mul_cap(rows, width), 4) &&
          inside(dx, mul_cap(rows, width), 4) && inside(gamma, width, 4) &&
          inside(acc, mul_cap(2, width), 8) && inside(out_dbeta, width, 4) &&
          inside(out_dgamma, width, 4) &&
          (rows == 0 || inside(dy, mul_cap(rows - 1, dy_stride) + width, 4)));
  grad_sums_rows(dy, dy_stride, x, gamma, rows, width, acc, dx);
  round_sums(acc, out_dbeta, width);
  round_sums(acc + width, out_dgamma, width);
}

/*
 * One Adam step for one variable, as tfjs' AdamOptimizer computes it op by op in float32
 * (same operations in the same order, so the same roundings: wasm has no fused multiply-add):
 *   m' = m*beta1 + g*(1 - beta1)            v' = v*beta2 + (g*g)*(1 - beta2)
 *   w' = ((m' / (1 - beta1^t)) / (sqrt(v' / (1 - beta2^t)) + eps)) * (-lr) + w
 * acc_beta1 and acc_beta2 are beta1^t and beta2^t before this step. Writes w', m', v' to their
 * own outputs; the inputs are left alone.
 */
EXPORT(bnn_adam)
void bnn_adam(const float *w, const float *g, const float *m, const float *v, float *w_out,
              float *m_out, float *v_out, u32 n, float beta1, float one_minus_beta1, float beta2,
              float one_minus_beta2, float acc_beta1, float acc_beta2, float neg_lr, float eps) {
  REQUIRE(inside(w, n, 4) && inside(g, n, 4) && inside(m, n, 4) && inside(v, n, 4) &&
          inside(w_out, n, 4) && inside(m_out, n, 4) && inside(v_out, n, 4));
  const float c1 = 1.0f - acc_beta1, c2 = 1.0f - acc_beta2;
  const v128_t vb1 = wasm_f32x4_splat(beta1), vo1 = wasm_f32x4_splat(one_minus_beta1);
  const v128_t vb2 = wasm_f32x4_splat(beta2), vo2 = wasm_f32x4_splat(one_minus_beta2);
  const v128_t vc1 = wasm_f32x4_splat(c1), vc2 = wasm_f32x4_splat(c2);
  const v128_t vlr = wasm_f32x4_splat(neg_lr), veps = wasm_f32x4_splat(eps);
  u32 i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t gi = wasm_v128_load(g + i);
    const v128_t nm = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(m + i), vb1), wasm_f32x4_mul(gi, vo1));
    const v128_t nv = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(v + i), vb2),
                                     wasm_f32x4_mul(wasm_f32x4_mul(gi, gi), vo2));
    const v128_t denom = wasm_f32x4_add(wasm_f32x4_sqrt(wasm_f32x4_div(nv, vc2)), veps);
    const v128_t step = wasm_f32x4_mul(wasm_f32x4_div(wasm_f32x4_div(nm, vc1), denom), vlr);
    wasm_v128_store(w_out + i, wasm_f32x4_add(step, wasm_v128_load(w + i)));
    wasm_v128_store(m_out + i, nm);
    wasm_v128_store(v_out + i, nv);
  }
  for (; i < n; i++) {
    const float nm = m[i] * beta1 + g[i] * one_minus_beta1;
    const float nv = v[i] * beta2 + (g[i] * g[i]) * one_minus_beta2;
    w_out[i] = ((nm / c1) / (__builtin_sqrtf(nv / c2) + eps)) * neg_lr + w[i];
    m_out[i] = nm;
    v_out[i] = nv;
  }
}

/*
 * The micro-step the three convolution kernels share: a block of 4 rows of accumulators, row j
 * gaining splat(*p_j) times 8 values (v0, v1) into a_j and b_j, or times 4 values (v0) into a_j.
 * Macros over the caller's locals, so the accumulators stay wasm locals (no stack).
 */
#define MAC_ROW_8(a, b, p, v0, v1)               \
  do {                                           \
    const v128_t s_ = wasm_v128_load32_splat(p); \
    a = MADD(s_, v0, a);                         \
    b = MADD(s_, v1, b);                         \
  } while (0)
#define MAC_4X8(p0, p1, p2, p3, v0, v1) \
  do {                                  \
    MAC_ROW_8(a0, b0, p0, v0, v1);      \
    MAC_ROW_8(a1, b1, p1, v0, v1);      \
    MAC_ROW_8(a2, b2, p2, v0, v1);      \
    MAC_ROW_8(a3, b3, p3, v0, v1);      \
  } while (0)
#define MAC_ROW_4(a, p, v0) a = MADD(wasm_v128_load32_splat(p), v0, a)
#define MAC_4X4(p0, p1, p2, p3, v0) \
  do {                              \
    MAC_ROW_4(a0, p0, v0);          \
    MAC_ROW_4(a1, p1, v0);          \
    MAC_ROW_4(a2, p2, v0);          \
    MAC_ROW_4(a3, p3, v0);          \
  } while (0)

/*
 * Forward 2-D convolution, NHWC float32, as a gather:
 *   y[b, oh, ow, co] = sum over kh, kw, ci of x[b, oh*sh + kh*dh, ow*sw + kw*dw, ci] * w[kh, kw, ci, co]
 * x is [batch, in_h, in_w, in_c] and already padded by the caller (every tap lands inside it);
 * w is [filter_h, filter_w, in_c, out_c]; y is [batch, out_h, out_w, out_c], written, not added to.
 *
 * Four output pixels (consecutive in the image, across rows) times eight output channels: 8
 * f32x4 accumulators that stay in registers over all filter_h * filter_w * in_c taps, with 4
 * splat loads of x and 2 vector loads of w per tap. No packing of the weights, which change every
 * training step in a BNN.
 */
#define X_BASE(r) (((r) / out_w * stride_h * in_w + (r) % out_w * stride_w) * in_c)

EXPORT(bnn_conv2d_forward)
void bnn_conv2d_forward(const float *x, const float *w, float *y, u32 batch, u32 in_h, u32 in_w,
                        u32 in_c, u32 out_h, u32 out_w, u32 out_c, u32 filter_h, u32 filter_w,
                        u32 stride_h, u32 stride_w, u32 dil_h, u32 dil_w) {
  REQUIRE(inside(x, count4(batch, in_h, in_w, in_c), 4) &&
          inside(w, count4(filter_h, filter_w, in_c, out_c), 4) &&
          inside(y, count4(batch, out_h, out_w, out_c), 4) &&
          taps_inside(out_h, stride_h, filter_h, dil_h, in_h) &&
          taps_inside(out_w, stride_w, filter_w, dil_w, in_w));
  const u32 pixels = out_h * out_w;
  /* With dil_w = 1 the taps (kw, ci) of one filter row are contiguous in x: one loop of
     filter_w * in_c taps instead of filter_w loops of in_c (in_c = 1 for a first layer). */
  const u32 row_taps = dil_w == 1 ? filter_w * in_c : in_c;
  const u32 row_steps = dil_w == 1 ? 1 : filter_w;
  for (u32 b = 0; b < batch; b++) {
    const float *xb = x + b * in_h * in_w * in_c;
    float *yb = y + b * pixels * out_c;
    u32 r = 0;
    for (; r + 4 <= pixels; r += 4) {
      const float *x0 = xb + X_BASE(r), *x1 = xb + X_BASE(r + 1);
      const float *x2 = xb + X_BASE(r + 2), *x3 = xb + X_BASE(r + 3);
      float *y0 = yb + r * out_c, *y1 = y0 + out_c, *y2 = y1 + out_c, *y3 = y2 + out_c;
      u32 co = 0;
      for (; co + 8 <= out_c; co += 8) {
        v128_t a0 = wasm_f32x4_splat(0.0f), b0 = a0, a1 = a0, b1 = a0;
        v128_t a2 = a0, b2 = a0, a3 = a0, b3 = a0;
        const float *wp = w + co;
        for (u32 kh = 0; kh < filter_h; kh++) {
          for (u32 kw = 0; kw < row_steps; kw++) {
            const u32 t = (kh * dil_h * in_w + kw * dil_w) * in_c;
            const float *p0 = x0 + t, *p1 = x1 + t, *p2 = x2 + t, *p3 = x3 + t;
            for (u32 ci = 0; ci < row_taps; ci++, wp += out_c) {
              const v128_t w0 = wasm_v128_load(wp), w1 = wasm_v128_load(wp + 4);
              MAC_4X8(p0 + ci, p1 + ci, p2 + ci, p3 + ci, w0, w1);
            }
          }
        }
        wasm_v128_store(y0 + co, a0), wasm_v128_store(y0 + co + 4, b0);
        wasm_v128_store(y1 + co, a1), wasm_v128_store(y1 + co + 4, b1);
        wasm_v128_store(y2 + co, a2), wasm_v128_store(y2 + co + 4, b2);
        wasm_v128_store(y3 + co, a3), wasm_v128_store(y3 + co + 4, b3);
      }
      for (; co + 4 <= out_c; co += 4) {
        v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
        const float *wp = w + co;
        for (u32 kh = 0; kh < filter_h; kh++) {
          for (u32 kw = 0; kw < row_steps; kw++) {
            const u32 t = (kh * dil_h * in_w + kw * dil_w) * in_c;
            const float *p0 = x0 + t, *p1 = x1 + t, *p2 = x2 + t, *p3 = x3 + t;
            for (u32 ci = 0; ci < row_taps; ci++, wp += out_c) {
              const v128_t w0 = wasm_v128_load(wp);
              MAC_4X4(p0 + ci, p1 + ci, p2 + ci, p3 + ci, w0);
            }
          }
        }
        wasm_v128_store(y0 + co, a0), wasm_v128_store(y1 + co, a1);
        wasm_v128_store(y2 + co, a2), wasm_v128_store(y3 + co, a3);
      }
      for (; co < out_c; co++) {
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        const float *wp = w + co;
        for (u32 kh = 0; kh < filter_h; kh++) {
          for (u32 kw = 0; kw < row_steps; kw++) {
            const u32 t = (kh * dil_h * in_w + kw * dil_w) * in_c;
            const float *p0 = x0 + t, *p1 = x1 + t, *p2 = x2 + t, *p3 = x3 + t;
            for (u32 ci = 0; ci < row_taps; ci++, wp += out_c) {
              a0 += p0[ci] * wp[0], a1 += p1[ci] * wp[0], a2 += p2[ci] * wp[0], a3 += p3[ci] * wp[0];
            }
          }
        }
        y0[co] = a0, y1[co] = a1, y2[co] = a2, y3[co] = a3;
      }
    }
    for (; r < pixels; r++) {
      const float *x0 = xb + X_BASE(r);
      float *y0 = yb + r * out_c;
      u32 co = 0;
      for (; co + 4 <= out_c; co += 4) {
        v128_t a0 = wasm_f32x4_splat(0.0f);
        const float *wp = w + co;
        for (u32 kh = 0; kh < filter_h; kh++) {
          for (u32 kw = 0; kw < row_steps; kw++) {
            const float *p0 = x0 + (kh * dil_h * in_w + kw * dil_w) * in_c;
            for (u32 ci = 0; ci < row_taps; ci++, wp += out_c) {
              a0 = MADD(wasm_v128_load32_splat(p0 + ci), wasm_v128_load(wp), a0);
            }
          }
        }
        wasm_v128_store(y0 + co, a0);
      }
      for (; co < out_c; co++) {
        float a0 = 0.0f;
        const float *wp = w + co;
        for (u32 kh = 0; kh < filter_h; kh++) {
          for (u32 kw = 0; kw < row_steps; kw++) {
            const float *p0 = x0 + (kh * dil_h * in_w + kw * dil_w) * in_c;
            for (u32 ci = 0; ci < row_taps; ci++, wp += out_c) a0 += p0[ci] * wp[0];
          }
        }
        y0[co] = a0;
      }
    }
  }
}
#undef X_BASE

/*
 * Filter gradient of a 2-D convolution, NHWC float32:
 *   dw[kh, kw, ci, co] += sum over b, oh, ow of x[b, oh*sh + kh*dh, ow*sw + kw*dw, ci] * dy[b, oh, ow, co]
 * x is [batch, in_h, in_w, in_c] and already padded by the caller, so every tap lands inside it;
 * dy is [batch, out_h, out_w, out_c]; dw is [filter_h, filter_w, in_c, out_c] and accumulates
 * (the caller zeroes it).
 *
 * The filter taps p = (kh, kw, ci) are taken four at a time (in dw's order, so any in_c works)
 * against eight output channels: 8 f32x4 accumulators, and per output pixel 4 splat loads of x
 * and 2 vector loads of dy for 16 multiplies and adds. One image at a time, so its x and dy stay
 * in cache while every (taps, channels) block runs over its pixels; the accumulators go back to
 * dw after each block.
 */
#define TAP_OFFSET(p) \
  ((p) / (filter_w * in_c) * dil_h * row + (p) / in_c % filter_w * dil_w * in_c + (p) % in_c)

EXPORT(bnn_conv2d_filter_grad)
void bnn_conv2d_filter_grad(const float *x, const float *dy, float *dw, u32 batch, u32 in_h,
                            u32 in_w, u32 in_c, u32 out_h, u32 out_w, u32 out_c, u32 filter_h,
                            u32 filter_w, u32 stride_h, u32 stride_w, u32 dil_h, u32 dil_w) {
  REQUIRE(inside(x, count4(batch, in_h, in_w, in_c), 4) &&
          inside(dw, count4(filter_h, filter_w, in_c, out_c), 4) &&
          inside(dy, count4(batch, out_h, out_w, out_c), 4) &&
          taps_inside(out_h, stride_h, filter_h, dil_h, in_h) &&
          taps_inside(out_w, stride_w, filter_w, dil_w, in_w));
  const u32 row = in_w * in_c;
  const u32 taps = filter_h * filter_w * in_c;
  const u32 x_step = stride_w * in_c;
  for (u32 b = 0; b < batch; b++) {
    const float *xb = x + b * in_h * row;
    const float *dyb = dy + b * out_h * out_w * out_c;
    u32 p = 0;
    for (; p + 4 <= taps; p += 4) {
      const u32 o0 = TAP_OFFSET(p), o1 = TAP_OFFSET(p + 1);
      const u32 o2 = TAP_OFFSET(p + 2), o3 = TAP_OFFSET(p + 3);
      float *w0 = dw + p * out_c, *w1 = w0 + out_c, *w2 = w1 + out_c, *w3 = w2 + out_c;
      u32 co = 0;
      for (; co + 8 <= out_c; co += 8) {
        v128_t a0 = wasm_v128_load(w0 + co), b0 = wasm_v128_load(w0 + co + 4);
        v128_t a1 = wasm_v128_load(w1 + co), b1 = wasm_v128_load(w1 + co + 4);
        v128_t a2 = wasm_v128_load(w2 + co), b2 = wasm_v128_load(w2 + co + 4);
        v128_t a3 = wasm_v128_load(w3 + co), b3 = wasm_v128_load(w3 + co + 4);
        for (u32 oh = 0; oh < out_h; oh++) {
          const float *xp = xb + oh * stride_h * row;
          const float *g = dyb + oh * out_w * out_c + co;
          for (u32 ow = 0; ow < out_w; ow++, xp += x_step, g += out_c) {
            const v128_t d0 = wasm_v128_load(g), d1 = wasm_v128_load(g + 4);
            MAC_4X8(xp + o0, xp + o1, xp + o2, xp + o3, d0, d1);
          }
        }
        wasm_v128_store(w0 + co, a0), wasm_v128_store(w0 + co + 4, b0);
        wasm_v128_store(w1 + co, a1), wasm_v128_store(w1 + co + 4, b1);
        wasm_v128_store(w2 + co, a2), wasm_v128_store(w2 + co + 4, b2);
        wasm_v128_store(w3 + co, a3), wasm_v128_store(w3 + co + 4, b3);
      }
      for (; co + 4 <= out_c; co += 4) {
        v128_t a0 = wasm_v128_load(w0 + co), a1 = wasm_v128_load(w1 + co);
        v128_t a2 = wasm_v128_load(w2 + co), a3 = wasm_v128_load(w3 + co);
        for (u32 oh = 0; oh < out_h; oh++) {
          const float *xp = xb + oh * stride_h * row;
          const float *g = dyb + oh * out_w * out_c + co;
          for (u32 ow = 0; ow < out_w; ow++, xp += x_step, g += out_c) {
            const v128_t d0 = wasm_v128_load(g);
            MAC_4X4(xp + o0, xp + o1, xp + o2, xp + o3, d0);
          }
        }
        wasm_v128_store(w0 + co, a0), wasm_v128_store(w1 + co, a1);
        wasm_v128_store(w2 + co, a2), wasm_v128_store(w3 + co, a3);
      }
      for (; co < out_c; co++) {
        float a0 = w0[co], a1 = w1[co], a2 = w2[co], a3 = w3[co];
        for (u32 oh = 0; oh < out_h; oh++) {
          const float *xp = xb + oh * stride_h * row;
          const float *g = dyb + oh * out_w * out_c + co;
          for (u32 ow = 0; ow < out_w; ow++, xp += x_step, g += out_c) {
            a0 += xp[o0] * g[0], a1 += xp[o1] * g[0], a2 += xp[o2] * g[0], a3 += xp[o3] * g[0];
          }
        }
        w0[co] = a0, w1[co] = a1, w2[co] = a2, w3[co] = a3;
      }
    }
    for (; p < taps; p++) {
      const u32 o0 = TAP_OFFSET(p);
      float *w0 = dw + p * out_c;
      u32 co = 0;
      for (; co + 4 <= out_c; co += 4) {
        v128_t a0 = wasm_v128_load(w0 + co);
        for (u32 oh = 0; oh < out_h; oh++) {
          const float *xp = xb + oh * stride_h * row;
          const float *g = dyb + oh * out_w * out_c + co;
          for (u32 ow = 0; ow < out_w; ow++, xp += x_step, g += out_c) {
            a0 = MADD(wasm_v128_load32_splat(xp + o0), wasm_v128_load(g), a0);
          }
        }
        wasm_v128_store(w0 + co, a0);
      }
      for (; co < out_c; co++) {
        float a0 = w0[co];
        for (u32 oh = 0; oh < out_h; oh++) {
          const float *xp = xb + oh * stride_h * row;
          const float *g = dyb + oh * out_w * out_c + co;
          for (u32 ow = 0; ow < out_w; ow++, xp += x_step, g += out_c) a0 += xp[o0] * g[0];
        }
        w0[co] = a0;
      }
    }
  }
}
#undef TAP_OFFSET

/*
 * Input gradient of a 2-D convolution, NHWC float32, as a scatter:
 *   dx[b, oh*sh + kh*dh, ow*sw + kw*dw, ci] += sum over co of dy[b, oh, ow, co] * wt[kh, kw, co, ci]
 * dy is [batch, out_h, out_w, out_c]; wt is the filter with its channel axes swapped,
 * [filter_h, filter_w, out_c, in_c]; dx is [batch, dx_h, dx_w, in_c], the input gradient with
 * the convolution's padding around it (the caller zeroes it and crops the padding off).
 *
 * Four output pixels (consecutive in the image, across rows) times eight input channels: 8 f32x4
 * accumulators; per output channel 4 splat loads of dy and 2 vector loads of wt for 16 multiplies
 * and adds. Each filter tap's block is then added into the four dx pixels it reaches.
 */
#define DX_BASE(r) (((r) / out_w * stride_h * dx_w + (r) % out_w * stride_w) * in_c)

EXPORT(bnn_conv2d_input_grad)
void bnn_conv2d_input_grad(const float *dy, const float *wt, float *dx, u32 batch, u32 dx_h,
                           u32 dx_w, u32 in_c, u32 out_h, u32 out_w, u32 out_c, u32 filter_h,
                           u32 filter_w, u32 stride_h, u32 stride_w, u32 dil_h, u32 dil_w) {
  REQUIRE(inside(dx, count4(batch, dx_h, dx_w, in_c), 4) &&
          inside(wt, count4(filter_h, filter_w, in_c, out_c), 4) &&
          inside(dy, count4(batch, out_h, out_w, out_c), 4) &&
          taps_inside(out_h, stride_h, filter_h, dil_h, dx_h) &&
          taps_inside(out_w, stride_w, filter_w, dil_w, dx_w));
  const u32 pixels = out_h * out_w;
  for (u32 b = 0; b < batch; b++) {
    const float *dyb = dy + b * pixels * out_c;
    float *dxb = dx + b * dx_h * dx_w * in_c;
    u32 r = 0;
    for (; r + 4 <= pixels; r += 4) {
      const float *g0 = dyb + r * out_c, *g1 = g0 + out_c, *g2 = g1 + out_c, *g3 = g2 + out_c;
      const u32 p0 = DX_BASE(r), p1 = DX_BASE(r + 1), p2 = DX_BASE(r + 2), p3 = DX_BASE(r + 3);
      for (u32 kh = 0; kh < filter_h; kh++) {
        for (u32 kw = 0; kw < filter_w; kw++) {
          const float *w = wt + (kh * filter_w + kw) * out_c * in_c;
          float *t = dxb + (kh * dil_h * dx_w + kw * dil_w) * in_c;
          float *t0 = t + p0, *t1 = t + p1, *t2 = t + p2, *t3 = t + p3;
          u32 ci = 0;
          for (; ci + 8 <= in_c; ci += 8) {
            v128_t a0 = wasm_f32x4_splat(0.0f), b0 = a0, a1 = a0, b1 = a0;
            v128_t a2 = a0, b2 = a0, a3 = a0, b3 = a0;
            const float *wc = w + ci;
            for (u32 co = 0; co < out_c; co++, wc += in_c) {
              const v128_t w0 = wasm_v128_load(wc), w1 = wasm_v128_load(wc + 4);
              MAC_4X8(g0 + co, g1 + co, g2 + co, g3 + co, w0, w1);
            }
#define ADD_INTO(ptr, v) wasm_v128_store(ptr, wasm_f32x4_add(wasm_v128_load(ptr), v))
            ADD_INTO(t0 + ci, a0), ADD_INTO(t0 + ci + 4, b0);
            ADD_INTO(t1 + ci, a1), ADD_INTO(t1 + ci + 4, b1);
            ADD_INTO(t2 + ci, a2), ADD_INTO(t2 + ci + 4, b2);
            ADD_INTO(t3 + ci, a3), ADD_INTO(t3 + ci + 4, b3);
          }
          for (; ci + 4 <= in_c; ci += 4) {
            v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
            const float *wc = w + ci;
            for (u32 co = 0; co < out_c; co++, wc += in_c) {
              const v128_t w0 = wasm_v128_load(wc);
              MAC_4X4(g0 + co, g1 + co, g2 + co, g3 + co, w0);
            }
            ADD_INTO(t0 + ci, a0), ADD_INTO(t1 + ci, a1);
            ADD_INTO(t2 + ci, a2), ADD_INTO(t3 + ci, a3);
          }
          for (; ci < in_c; ci++) {
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
            const float *wc = w + ci;
            for (u32 co = 0; co < out_c; co++, wc += in_c) {
              a0 += g0[co] * wc[0], a1 += g1[co] * wc[0], a2 += g2[co] * wc[0], a3 += g3[co] * wc[0];
            }
            t0[ci] += a0, t1[ci] += a1, t2[ci] += a2, t3[ci] += a3;
          }
        }
      }
    }
    for (; r < pixels; r++) {
      const float *g0 = dyb + r * out_c;
      const u32 p0 = DX_BASE(r);
      for (u32 kh = 0; kh < filter_h; kh++) {
        for (u32 kw = 0; kw < filter_w; kw++) {
          const float *w = wt + (kh * filter_w + kw) * out_c * in_c;
          float *t0 = dxb + (kh * dil_h * dx_w + kw * dil_w) * in_c + p0;
          u32 ci = 0;
          for (; ci + 4 <= in_c; ci += 4) {
            v128_t a0 = wasm_f32x4_splat(0.0f);
            const float *wc = w + ci;
            for (u32 co = 0; co < out_c; co++, wc += in_c) {
              a0 = MADD(wasm_v128_load32_splat(g0 + co), wasm_v128_load(wc), a0);
            }
            ADD_INTO(t0 + ci, a0);
          }
#undef ADD_INTO
          for (; ci < in_c; ci++) {
            float a0 = 0.0f;
            const float *wc = w + ci;
            for (u32 co = 0; co < out_c; co++, wc += in_c) a0 += g0[co] * wc[0];
            t0[ci] += a0;
          }
        }
      }
    }
  }
}
#undef DX_BASE

/*
 * Bit-packed binary convolution (XNOR-popcount), forward pass.
 *
 * When a convolution's input and filter are both signs (every value +1 or -1), each product is
 * +1 or -1 and a sum of `n` of them is n - 2 * (number of disagreeing pairs). With the signs as
 * bits (1 for -1, 0 for +1), the disagreements of 64 pairs are popcount(x XOR w): one i64.popcnt
 * for 64 multiply-adds. (V8 lowers i64.popcnt to one x64 POPCNT; SIMD128's i8x16.popcnt becomes a
 * PSHUFB table sequence of about eight instructions without AVX-512 BITALG, so 64-bit words are
 * as fast here and need no reduction of byte counters.)
 *
 * Exactness against the float path: every partial sum of +-1 products is an integer far below
 * 2^24, so the float kernel's result is that integer exactly, and so is this one's.
 *
 * Padding is a zero, not a sign. Padding pixels are packed as all-zero bits (read as +1), so a
 * window over padding counts, for each padding tap, sum over ci of w[tap, ci] instead of 0; the
 * kernel subtracts exactly that (in_c - 2 * popcount(w bits of the tap)) for the windows that
 * reach into the padding. Unused high bits of a pixel's last word are zero in x and w (XOR 0).
 *
 * Layouts: xp is [batch, pad_h, pad_w, words] u64 (the padded input, words = ceil(in_c / 64)),
 * y is [batch, out_h, out_w, out_c] float32, and wp (out_c * filter_h * filter_w * words u64)
 * holds the filter in blocks of four output channels, [out_c / 4, filter_h, filter_w, words, 4],
 * then the last out_c % 4 channels as [out_c % 4, filter_h, filter_w, words] (`wp_index`): the
 * kernel reads a block's four words of one tap and word at one address, which keeps V8 from
 * running out of registers in its inner loop.
 */
static inline u32 pop64(u64 v) { return (u32)__builtin_popcountll(v); }

/* Where output channel co's word k of tap `tap` lies in wp (see Layouts above). */
static inline u64 wp_index(u32 co, u32 tap, u32 k, u32 taps, u32 words, u32 out_c) {
  const u32 blocked = out_c & ~3u;
  if (co < blocked) return (((u64)(co >> 2) * taps + tap) * words + k) * 4 + (co & 3);
  return (u64)blocked * taps * words + ((u64)(co - blocked) * taps + tap) * words + k;
}

/*
 * Packs x [batch, in_h, in_w, in_c] into xp [batch, pad_h, pad_w, words] with pad_top / pad_left
 * padding pixels of zero bits, bit set for -1. `any` (a constant in each caller): x is any
 * float32 and its bits are sgn(x), as bnn_sign gives it (-1 for x < 0; +1 for 0, -0 and NaN);
 * otherwise x must be signs, and it returns 0 as soon as a value is not exactly +1 or -1 (then xp
 * is partly written and must not be used), else 1.
 */
static inline u32 pack_input_signs(const float *x, u64 *xp, u32 batch, u32 in_h, u32 in_w,
                                   u32 in_c, u32 pad_h, u32 pad_w, u32 pad_top, u32 pad_left,
                                   u32 words, int any) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  const v128_t zero = wasm_f32x4_splat(0.0f);
  for (u32 b = 0; b < batch; b++) {
    for (u32 ph = 0; ph < pad_h; ph++) {
      for (u32 pw = 0; pw < pad_w; pw++) {
        u64 *dst = xp + ((b * pad_h + ph) * pad_w + pw) * words;
        const u32 ih = ph - pad_top, iw = pw - pad_left; /* wrap past in_h / in_w when < 0 */
        if (ih >= in_h || iw >= in_w) {
          for (u32 k = 0; k < words; k++) dst[k] = 0;
          continue;
        }
        const float *src = x + ((b * in_h + ih) * in_w + iw) * in_c;
        u32 ok = 1;
        for (u32 k = 0; k < words; k++) {
          const u32 start = 64 * k, end = start + 64 < in_c ? start + 64 : in_c;
          u64 bits = 0;
          u32 ci = start;
          for (; ci + 4 <= end; ci += 4) {
            const v128_t v = wasm_v128_load(src + ci);
            if (any) {
              bits |= (u64)wasm_i32x4_bitmask(wasm_f32x4_lt(v, zero)) << (ci - start);
            } else {
              ok &= wasm_i32x4_all_true(wasm_f32x4_eq(wasm_f32x4_abs(v), one));
              bits |= (u64)wasm_i32x4_bitmask(v) << (ci - start);
            }
          }
          for (; ci < end; ci++) {
            const float v = src[ci];
            if (!any) ok &= (v == 1.0f) | (v == -1.0f);
            bits |= (u64)(v < 0.0f) << (ci - start);
          }
          dst[k] = bits;
        }
        if (!ok) return 0;
      }
    }
  }
  return 1;
}

#define PACK_INPUT_REQUIRE()                                                             \
  REQUIRE(inside(x, count4(batch, in_h, in_w, in_c), 4) &&                               \
          inside(xp, count4(batch, pad_h, pad_w, words), 8) && words == (in_c + 63) / 64 && \
          (u64)pad_top + in_h <= pad_h && (u64)pad_left + in_w <= pad_w)

/* Packs x, float32 signs (see pack_input_signs): 1, or 0 when a value is not exactly +1 or -1. */
EXPORT(bnn_pack_signs)
u32 bnn_pack_signs(const float *x, u64 *xp, u32 batch, u32 in_h, u32 in_w, u32 in_c, u32 pad_h,
                   u32 pad_w, u32 pad_top, u32 pad_left, u32 words) {
  PACK_INPUT_REQUIRE();
  return pack_input_signs(x, xp, batch, in_h, in_w, in_c, pad_h, pad_w, pad_top, pad_left, words,
                          0);
}

/*
 * Packs sgn(x) of any float32 x (see pack_input_signs): a binary layer's input quantizer and the
 * packing of the XNOR forward in one pass, without writing the signs as float32.
 */
EXPORT(bnn_pack_sgn)
void bnn_pack_sgn(const float *x, u64 *xp, u32 batch, u32 in_h, u32 in_w, u32 in_c, u32 pad_h,
                  u32 pad_w, u32 pad_top, u32 pad_left, u32 words) {
  PACK_INPUT_REQUIRE();
  pack_input_signs(x, xp, batch, in_h, in_w, in_c, pad_h, pad_w, pad_top, pad_left, words, 1);
}

/*
 * Packs a filter w [filter_h, filter_w, in_c, out_c] (float32 signs) into wp (blocks of four
 * output channels, `wp_index`). Returns 1, or 0 when a value is not exactly +1 or -1.
 *
 * Four output channels at a time (one vector of w): each input channel's sign sets its bit in
 * four 32-bit halves of words at once (lo for the word's channels 0..31, hi for 32..63). Every
 * binary layer packs its filter once per forward pass, batch-independent work that each
 * data-parallel replica repeats: scalar, it took ~1.8 ns a value (ResNetE-18: ~20 ms a step).
 */
#define PACK_HALF(acc, from, to)                                                      \
  for (u32 ci = (from); ci < (to); ci++) {                                           \
    const v128_t v = wasm_v128_load(src + ci * out_c);                               \
    bad = wasm_v128_or(bad, wasm_f32x4_ne(wasm_f32x4_abs(v), one));                  \
    acc = wasm_v128_or(acc, wasm_v128_and(wasm_f32x4_lt(v, zero),                    \
                                          wasm_i32x4_splat((int)(1u << (ci - (from)))))); \
  }
EXPORT(bnn_pack_filter_signs)
u32 bnn_pack_filter_signs(const float *w, u64 *wp, u32 filter_h, u32 filter_w, u32 in_c, u32 out_c,
                          u32 words) {
  REQUIRE(inside(w, count4(filter_h, filter_w, in_c, out_c), 4) &&
          inside(wp, count4(out_c, filter_h, filter_w, words), 8) && words == (in_c + 63) / 64);
  const u32 taps = filter_h * filter_w;
  const v128_t one = wasm_f32x4_splat(1.0f), zero = wasm_f32x4_splat(0.0f);
  u32 ok = 1;
  for (u32 tap = 0; tap < taps; tap++) {
    for (u32 k = 0; k < words; k++) {
      const u32 start = 64 * k, end = start + 64 < in_c ? start + 64 : in_c;
      const u32 mid = start + 32 < end ? start + 32 : end;
      u32 co = 0;
      for (; co + 4 <= out_c; co += 4) {
        const float *src = w + tap * in_c * out_c + co;
        v128_t lo = wasm_i32x4_splat(0), hi = lo, bad = lo;
        PACK_HALF(lo, start, mid)
        PACK_HALF(hi, mid, end)
        ok &= !wasm_v128_any_true(bad);
        u64 *dst = wp + wp_index(co, tap, k, taps, words, out_c);
        dst[0] = (u64)(u32)wasm_i32x4_extract_lane(lo, 0) |
                 (u64)(u32)wasm_i32x4_extract_lane(hi, 0) << 32;
        dst[1] = (u64)(u32)wasm_i32x4_extract_lane(lo, 1) |
                 (u64)(u32)wasm_i32x4_extract_lane(hi, 1) << 32;
        dst[2] = (u64)(u32)wasm_i32x4_extract_lane(lo, 2) |
                 (u64)(u32)wasm_i32x4_extract_lane(hi, 2) << 32;
        dst[3] = (u64)(u32)wasm_i32x4_extract_lane(lo, 3) |
                 (u64)(u32)wasm_i32x4_extract_lane(hi, 3) << 32;
      }
      for (; co < out_c; co++) {
        const float *src = w + tap * in_c * out_c + co;
        u64 bits = 0;
        for (u32 ci = start; ci < end; ci++) {
          const float v = src[ci * out_c];
          ok &= (v == 1.0f) | (v == -1.0f);
          bits |= (u64)(v < 0.0f) << (ci - start);
        }
        wp[wp_index(co, tap, k, taps, words, out_c)] = bits;
      }
      if (!ok) return 0;
    }
  }
  return 1;
}
#undef PACK_HALF

/*
 * y[b, oh, ow, co] = sum over the window's taps inside the (unpadded) input of x * w, from the
 * packed signs. pad_h, pad_w: the padded input's size; in_h, in_w, pad_top, pad_left: where the
 * real input lies in it. Four output channels at a time share each load of x.
 */
/*
 * A window that reaches into the padding counted, for each padding tap, sum over ci of w[tap, ci]
 * (padding packed as +1 bits): take that off again for the output pixel at yp.
 */
static inline void xnor_unpad(const u64 *wp, float *yp, u32 ih0, u32 iw0, u32 in_c, u32 out_c,
                              u32 filter_h, u32 filter_w, u32 dil_h, u32 dil_w, u32 in_h,
                              u32 in_w, u32 pad_top, u32 pad_left, u32 words) {
  const u32 taps = filter_h * filter_w;
  for (u32 kh = 0; kh < filter_h; kh++) {
    const u32 ih = ih0 + kh * dil_h;
    const int row_pad = ih < pad_top || ih >= pad_top + in_h;
    for (u32 kw = 0; kw < filter_w; kw++) {
      const u32 iw = iw0 + kw * dil_w;
      if (!row_pad && iw >= pad_left && iw < pad_left + in_w) continue;
      const u32 tap = kh * filter_w + kw;
      for (u32 c = 0; c < out_c; c++) {
        u32 ones = 0;
        for (u32 k = 0; k < words; k++) ones += pop64(wp[wp_index(c, tap, k, taps, words, out_c)]);
        yp[c] -= (float)((int)in_c - 2 * (int)ones);
      }
    }
  }
}

EXPORT(bnn_conv2d_forward_xnor)
void bnn_conv2d_forward_xnor(const u64 *xp, const u64 *wp, float *y, u32 batch, u32 pad_h, u32 pad_w,
                             u32 in_c, u32 out_h, u32 out_w, u32 out_c, u32 filter_h, u32 filter_w,
                             u32 stride_h, u32 stride_w, u32 dil_h, u32 dil_w, u32 in_h, u32 in_w,
                             u32 pad_top, u32 pad_left) {
  const u32 words = (in_c + 63) / 64;
  REQUIRE(inside(xp, count4(batch, pad_h, pad_w, words), 8) &&
          inside(wp, count4(out_c, filter_h, filter_w, words), 8) &&
          inside(y, count4(batch, out_h, out_w, out_c), 4) &&
          taps_inside(out_h, stride_h, filter_h, dil_h, pad_h) &&
          taps_inside(out_w, stride_w, filter_w, dil_w, pad_w) &&
          (u64)pad_top + in_h <= pad_h && (u64)pad_left + in_w <= pad_w &&
          (u64)filter_h * filter_w * in_c < (1ull << 31));
  const u32 taps = filter_h * filter_w;
  const int full = (int)(taps * in_c);
  /* With dil_w = 1 a filter row's taps (kw, word) are contiguous in xp and in wp. */
  const u32 row_len = dil_w == 1 ? filter_w * words : words;
  const u32 row_steps = dil_w == 1 ? 1 : filter_w;
  const u32 w_stride = taps * words; /* one output channel of wp */
#define XNOR_BORDER(iw0) \
  (!(rows_inside && (iw0) >= pad_left && (iw0) + (filter_w - 1) * dil_w < pad_left + in_w))
  for (u32 b = 0; b < batch; b++) {
    for (u32 oh = 0; oh < out_h; oh++) {
      const u32 ih0 = oh * stride_h;
      const int rows_inside =
          ih0 >= pad_top && ih0 + (filter_h - 1) * dil_h < pad_top + in_h;
      /*
       * Two output pixels at a time (a and b, the same row), so that each load of the filter's
       * words serves both: 4 output channels x 2 pixels, 8 popcounts per 6 loads. A last
       * single pixel runs as its own pair (b = a), stored once.
       */
      for (u32 ow = 0; ow < out_w; ow += 2) {
        const int pair = ow + 1 < out_w;
        const u32 iw0 = ow * stride_w;
        const u64 *xa = xp + ((b * pad_h + ih0) * pad_w + iw0) * words;
        const u64 *xb = pair ? xa + stride_w * words : xa;
        float *ya = y + ((b * out_h + oh) * out_w + ow) * out_c;
        float *yb = ya + out_c;
        u32 co = 0;
        for (; co + 4 <= out_c; co += 4) {
          /*
           * Two channels' counts per 64-bit accumulator (low and high half: a count is at most
           * taps * in_c < 2^31), so the loop's live values fit V8's x64 registers; with eight
           * 32-bit accumulators and four filter pointers it spilled to the stack every word.
           */
          u64 a01 = 0, a23 = 0, b01 = 0, b23 = 0;
          const u64 *w0 = wp + (u64)co * w_stride; /* block co / 4: 4 * w_stride words */
          for (u32 kh = 0; kh < filter_h; kh++) {
            for (u32 kw = 0; kw < row_steps; kw++) {
              const u32 at = (kh * dil_h * pad_w + kw * dil_w) * words;
              const u64 *ra = xa + at, *rb = xb + at;
              const u64 *wr = w0 + 4 * (kh * filter_w + kw) * words;
              /* One word j of both pixels against the block's four channels at wr[q..q + 3]. */
#define XNOR_WORD(j, q)                                                   \
  {                                                                       \
    const u64 va = ra[j], vb = rb[j];                                     \
    const u64 q0 = wr[q], q1 = wr[(q) + 1], q2 = wr[(q) + 2], q3 = wr[(q) + 3]; \
    a01 += pop64(va ^ q0) + ((u64)pop64(va ^ q1) << 32);                  \
    a23 += pop64(va ^ q2) + ((u64)pop64(va ^ q3) << 32);                  \
    b01 += pop64(vb ^ q0) + ((u64)pop64(vb ^ q1) << 32);                  \
    b23 += pop64(vb ^ q2) + ((u64)pop64(vb ^ q3) << 32);                  \
  }
              if (row_len == 3) {
                /* A 3-wide filter row of one word per pixel (in_c <= 64), unrolled. */
                XNOR_WORD(0, 0) XNOR_WORD(1, 4) XNOR_WORD(2, 8)
                continue;
              }
              for (u32 j = 0; j < row_len; j++, wr += 4) XNOR_WORD(j, 0)
#undef XNOR_WORD
            }
          }
          ya[co] = (float)(full - 2 * (int)(u32)a01);
          ya[co + 1] = (float)(full - 2 * (int)(u32)(a01 >> 32));
          ya[co + 2] = (float)(full - 2 * (int)(u32)a23);
          ya[co + 3] = (float)(full - 2 * (int)(u32)(a23 >> 32));
          if (pair) {
            yb[co] = (float)(full - 2 * (int)(u32)b01);
            yb[co + 1] = (float)(full - 2 * (int)(u32)(b01 >> 32));
            yb[co + 2] = (float)(full - 2 * (int)(u32)b23);
            yb[co + 3] = (float)(full - 2 * (int)(u32)(b23 >> 32));
          }
        }
        for (; co < out_c; co++) {
          u32 a0 = 0, b0 = 0;
          const u64 *w0 = wp + wp_index(co, 0, 0, taps, words, out_c);
          for (u32 kh = 0; kh < filter_h; kh++) {
            for (u32 kw = 0; kw < row_steps; kw++) {
              const u32 at = (kh * dil_h * pad_w + kw * dil_w) * words;
              const u64 *ra = xa + at, *rb = xb + at;
              const u64 *wr = w0 + (kh * filter_w + kw) * words;
              for (u32 j = 0; j < row_len; j++) {
                a0 += pop64(ra[j] ^ wr[j]);
                b0 += pop64(rb[j] ^ wr[j]);
              }
            }
          }
          ya[co] = (float)(full - 2 * (int)a0);
          if (pair) yb[co] = (float)(full - 2 * (int)b0);
        }
        if (XNOR_BORDER(iw0)) {
          xnor_unpad(wp, ya, ih0, iw0, in_c, out_c, filter_h, filter_w, dil_h, dil_w, in_h, in_w,
                     pad_top, pad_left, words);
        }
        if (pair && XNOR_BORDER(iw0 + stride_w)) {
          xnor_unpad(wp, yb, ih0, iw0 + stride_w, in_c, out_c, filter_h, filter_w, dil_h, dil_w,
                     in_h, in_w, pad_top, pad_left, words);
        }
      }
    }
  }
#undef XNOR_BORDER
}


/*
 * Winograd F(2x2, 3x3) gradients of a 3x3 convolution with stride 1 and no dilation (Lavin and
 * Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), NHWC float32.
 *
 * In one dimension, two outputs of a 3-tap correlation y_i = sum_k d[i + k] g[k] take four
 * multiplies instead of six: y = A' [(G g) * (B' d)] with
 *   B' = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A' = [1 1 1 0; 0 1 -1 -1].
 * Nested over rows and columns, a 2x2 block of outputs takes 16 multiplies per channel pair
 * instead of 36 (2.25x fewer), and over channels the 16 products become 16 independent matrix
 * products, one per point xi of the 4x4 transform: that is where the time goes, in the same 4x8
 * register blocks as the direct kernels above.
 *
 * Input gradient: dx[b, y, x, ci] = sum over kh, kw, co of dy[b, y + pad_top - kh, x + pad_left -
 * kw, co] * w[kh, kw, ci, co], dy read as zero outside its bounds: a correlation of dy with the
 * flipped filter, over 2x2 tiles of dx.
 * Filter gradient: dw[kh, kw, ci, co] = sum over b, oh, ow of x[b, oh - pad_top + kh, ow -
 * pad_left + kw, ci] * dy[b, oh, ow, co], x read as zero outside its bounds. By the transposition
 * of the same bilinear form, over 2x2 tiles of dy: dw = G' [sum over tiles of (B' X B) * (A DY A')] G.
 *
 * The results equal the direct kernels' up to float rounding: the transforms of x and of a +-1
 * filter are exact (sums of at most four signs, halved), those of dy round as any reordered sum.
 *
 * Scratch (float32, owned by the caller, the tfjs heap): tiles are taken `block` at a time,
 * across images, so that one point's transformed tiles (block x channels) stay in L2 while its
 * matrix product runs. Channel axes in the scratch are padded to c4 = a multiple of 4. The
 * filter's transform (input gradient) and the summed points (filter gradient) are made `chunk`
 * input channels at a time right before they are used; the caller chunks them only when they
 * would be large (256-512 channels on small images, where 36 points x 512 x 512 floats are 38 MB)
 * and all tiles fit one block, so that each is made once and stays in cache.
 */
#define WG_ZERO wasm_f32x4_splat(0.0f)

/* The first n (1..4) floats at p, zero above. */
static inline v128_t load_lanes(const float *p, u32 n) {
  if (n >= 4) return wasm_v128_load(p);
  v128_t v = wasm_f32x4_replace_lane(WG_ZERO, 0, p[0]);
  if (n > 1) v = wasm_f32x4_replace_lane(v, 1, p[1]);
  if (n > 2) v = wasm_f32x4_replace_lane(v, 2, p[2]);
  return v;
}
/* Stores the first n (1..4) lanes of v at p. */
static inline void store_lanes(float *p, v128_t v, u32 n) {
  if (n >= 4) {
    wasm_v128_store(p, v);
    return;
  }
  p[0] = wasm_f32x4_extract_lane(v, 0);
  if (n > 1) p[1] = wasm_f32x4_extract_lane(v, 1);
  if (n > 2) p[2] = wasm_f32x4_extract_lane(v, 2);
}
/* p[0], p[stride], … for the first n (0..4) lanes, zero above: 4 input channels of one tap. */
static inline v128_t channel_lanes(const float *p, u32 stride, u32 n) {
  v128_t v = WG_ZERO;
  if (n > 0) v = wasm_f32x4_replace_lane(v, 0, p[0]);
  if (n > 1) v = wasm_f32x4_replace_lane(v, 1, p[stride]);
  if (n > 2) v = wasm_f32x4_replace_lane(v, 2, p[2 * stride]);
  if (n > 3) v = wasm_f32x4_replace_lane(v, 3, p[3 * stride]);
  return v;
}
/* Channels [c, c + n) of pixel (y, x) of an h x w image with `ch` channels; zero outside it. */
static inline v128_t pixel_lanes(const float *img, int y, int x, u32 h, u32 w, u32 ch, u32 c,
                                 u32 n) {
  if (n == 0 || y < 0 || x < 0 || (u32)y >= h || (u32)x >= w) return WG_ZERO;
  return load_lanes(img + ((u32)y * w + (u32)x) * ch + c, n);
}

#define F4_ADD wasm_f32x4_add
#define F4_SUB wasm_f32x4_sub
#define F4_HALF(v) wasm_f32x4_mul(v, wasm_f32x4_splat(0.5f))
/* (a0..a3) = B' (a0..a3), in place. */
#define WG_BT(a0, a1, a2, a3)                                   \
  do {                                                          \
    const v128_t b0_ = F4_SUB(a0, a2), b1_ = F4_ADD(a1, a2);    \
    const v128_t b2_ = F4_SUB(a2, a1), b3_ = F4_SUB(a1, a3);    \
    a0 = b0_, a1 = b1_, a2 = b2_, a3 = b3_;                     \
  } while (0)
/* (o0..o3) = G (a0, a1, a2). */
#define WG_G(o0, o1, o2, o3, a0, a1, a2)         \
  do {                                           \
    const v128_t s_ = F4_ADD(a0, a2);            \
    o0 = a0;                                     \
    o1 = F4_HALF(F4_ADD(s_, a1));                \
    o2 = F4_HALF(F4_SUB(s_, a1));                \
    o3 = a2;                                     \
  } while (0)
/* (o0, o1) = A' (a0..a3). */
#define WG_AT(o0, o1, a0, a1, a2, a3) \
  do {                                \
    o0 = F4_ADD(F4_ADD(a0, a1), a2);  \
    o1 = F4_SUB(F4_SUB(a1, a2), a3);  \
  } while (0)
/* (o0..o3) = A (a0, a1). */
#define WG_A(o0, o1, o2, o3, a0, a1) \
  do {                               \
    o0 = a0;                         \
    o1 = F4_ADD(a0, a1);             \
    o2 = F4_SUB(a0, a1);             \
    o3 = F4_SUB(WG_ZERO, a1);        \
  } while (0)
/* (o0, o1, o2) = G' (a0..a3). */
#define WG_GT(o0, o1, o2, a0, a1, a2, a3)      \
  do {                                         \
    const v128_t h_ = F4_HALF(F4_ADD(a1, a2)); \
    o0 = F4_ADD(a0, h_);                       \
    o1 = F4_HALF(F4_SUB(a1, a2));              \
    o2 = F4_ADD(h_, a3);                       \
  } while (0)

/* A 4x4 tile d00..d33 (row, column) in the caller's locals, transformed in place to B' d B. */
#define WG_TILE_BT()                    \
  do {                                  \
    WG_BT(d00, d10, d20, d30);          \
    WG_BT(d01, d11, d21, d31);          \
    WG_BT(d02, d12, d22, d32);          \
    WG_BT(d03, d13, d23, d33);          \
    WG_BT(d00, d01, d02, d03);          \
    WG_BT(d10, d11, d12, d13);          \
    WG_BT(d20, d21, d22, d23);          \
    WG_BT(d30, d31, d32, d33);          \
  } while (0)
/* Stores the tile's 16 points at p, point xi = 4 row + column at p + xi * stride. */
#define WG_TILE_STORE(p, stride)                                                             \
  do {                                                                                       \
    wasm_v128_store((p), d00), wasm_v128_store((p) + (stride), d01);                         \
    wasm_v128_store((p) + 2 * (stride), d02), wasm_v128_store((p) + 3 * (stride), d03);      \
    wasm_v128_store((p) + 4 * (stride), d10), wasm_v128_store((p) + 5 * (stride), d11);      \
    wasm_v128_store((p) + 6 * (stride), d12), wasm_v128_store((p) + 7 * (stride), d13);      \
    wasm_v128_store((p) + 8 * (stride), d20), wasm_v128_store((p) + 9 * (stride), d21);      \
    wasm_v128_store((p) + 10 * (stride), d22), wasm_v128_store((p) + 11 * (stride), d23);    \
    wasm_v128_store((p) + 12 * (stride), d30), wasm_v128_store((p) + 13 * (stride), d31);    \
    wasm_v128_store((p) + 14 * (stride), d32), wasm_v128_store((p) + 15 * (stride), d33);    \
  } while (0)
#define WG_TILE_LOAD(p, stride)                                                              \
  v128_t d00 = wasm_v128_load((p)), d01 = wasm_v128_load((p) + (stride));                    \
  v128_t d02 = wasm_v128_load((p) + 2 * (stride)), d03 = wasm_v128_load((p) + 3 * (stride)); \
  v128_t d10 = wasm_v128_load((p) + 4 * (stride)), d11 = wasm_v128_load((p) + 5 * (stride)); \
  v128_t d12 = wasm_v128_load((p) + 6 * (stride)), d13 = wasm_v128_load((p) + 7 * (stride)); \
  v128_t d20 = wasm_v128_load((p) + 8 * (stride)), d21 = wasm_v128_load((p) + 9 * (stride)); \
  v128_t d22 = wasm_v128_load((p) + 10 * (stride)), d23 = wasm_v128_load((p) + 11 * (stride)); \
  v128_t d30 = wasm_v128_load((p) + 12 * (stride)), d31 = wasm_v128_load((p) + 13 * (stride)); \
  v128_t d32 = wasm_v128_load((p) + 14 * (stride)), d33 = wasm_v128_load((p) + 15 * (stride))

/* Loads the 4x4 tile of `img` (h x w x ch) at rows y..y+3, columns x..x+3, channels [c, c+n). */
#define WG_TILE_FROM_IMAGE(img, y, x, h, w, ch, c, n)                                         \
  v128_t d00 = pixel_lanes(img, y, x, h, w, ch, c, n);                                        \
  v128_t d01 = pixel_lanes(img, y, x + 1, h, w, ch, c, n);                                    \
  v128_t d02 = pixel_lanes(img, y, x + 2, h, w, ch, c, n);                                    \
  v128_t d03 = pixel_lanes(img, y, x + 3, h, w, ch, c, n);                                    \
  v128_t d10 = pixel_lanes(img, y + 1, x, h, w, ch, c, n);                                    \
  v128_t d11 = pixel_lanes(img, y + 1, x + 1, h, w, ch, c, n);                                \
  v128_t d12 = pixel_lanes(img, y + 1, x + 2, h, w, ch, c, n);                                \
  v128_t d13 = pixel_lanes(img, y + 1, x + 3, h, w, ch, c, n);                                \
  v128_t d20 = pixel_lanes(img, y + 2, x, h, w, ch, c, n);                                    \
  v128_t d21 = pixel_lanes(img, y + 2, x + 1, h, w, ch, c, n);                                \
  v128_t d22 = pixel_lanes(img, y + 2, x + 2, h, w, ch, c, n);                                \
  v128_t d23 = pixel_lanes(img, y + 2, x + 3, h, w, ch, c, n);                                \
  v128_t d30 = pixel_lanes(img, y + 3, x, h, w, ch, c, n);                                    \
  v128_t d31 = pixel_lanes(img, y + 3, x + 1, h, w, ch, c, n);                                \
  v128_t d32 = pixel_lanes(img, y + 3, x + 2, h, w, ch, c, n);                                \
  v128_t d33 = pixel_lanes(img, y + 3, x + 3, h, w, ch, c, n)

static inline u32 round4(u32 n) { return (n + 3) & ~3u; }
/*
 * The points of a transform lie `point` floats apart in the scratch, one point's panel plus
 * WG_SKEW: the panels' sizes are multiples of 4 kB, and without the skew a tile's 16 or 36 points
 * would fall into one cache set (thrashing the 8 ways of L1 and L2 as a transform stores or
 * loads them). bnnKernels.ts sizes the scratch with the same skew.
 */
#define WG_SKEW 16u
/* Floats of `points` skewed panels of a x b floats each, saturated as count4. */
static inline u64 skewed_points(u32 points, u32 a, u32 b) {
  return mul_cap(mul_cap(a, b) + WG_SKEW, points);
}
static inline u32 round8(u32 n) { return (n + 7) & ~7u; }
/*
 * The Winograd kernels' checks: tensors and the scratch of `points` transform points inside the
 * memory, a block and a chunk that are usable (a filter gradient chunks only one block of
 * tiles), padding a 3x3 filter can reach, and a tile count whose products cannot wrap. They
 * use the kernels' own parameter and local names.
 */
#define WG_INPUT_GRAD_REQUIRE(points)                                                   \
  REQUIRE(inside(dy, count4(batch, out_h, out_w, out_c), 4) &&                          \
          inside(w, count4(3, 3, in_c, out_c), 4) &&                                    \
          inside(dx, count4(batch, in_h, in_w, in_c), 4) &&                             \
          inside(u, skewed_points(points, out_c, chunk), 4) &&                          \
          inside(v, skewed_points(points, block, co4), 4) &&                            \
          inside(m, skewed_points(points, block, ci8), 4) && block > 0 && chunk > 0 &&  \
          chunk % 8 == 0 && pad_top <= 2 && pad_left <= 2 && tiles < ELEMENTS_CAP)
#define WG_FILTER_GRAD_REQUIRE(points)                                                  \
  REQUIRE(inside(x, count4(batch, in_h, in_w, in_c), 4) &&                              \
          inside(dy, count4(batch, out_h, out_w, out_c), 4) &&                          \
          inside(dw, count4(3, 3, in_c, out_c), 4) &&                                   \
          inside(xh, skewed_points(points, block, ci4), 4) &&                           \
          inside(dh, skewed_points(points, block, co8), 4) &&                           \
          inside(m, skewed_points(points, chunk, out_chunk < co8 ? out_chunk : co8), 4) && \
          block > 0 && chunk > 0 && chunk % 4 == 0 && out_chunk > 0 && out_chunk % 8 == 0 && \
          ((chunk >= ci4 && out_chunk >= co8) || tiles <= block) && pad_top <= 2 &&      \
          pad_left <= 2 && tiles < ELEMENTS_CAP)
/* Lanes of channels [c, c + 4) that exist among `channels`: 4, fewer at the end, 0 past it. */
static inline u32 lanes(u32 channels, u32 c) {
  return c >= channels ? 0 : channels - c < 4 ? channels - c : 4;
}

/*
 * out[xi][t][j] = sum over k < depth of a[xi][t][k] * b[xi][k][j] for the points xi, t < rows
 * and j < cols (a multiple of 8); out's rows are out_stride apart. a's rows are a_stride apart;
 * b is packed in panels of 8 columns, [xi][j / 8][k][8], so that the panel the inner loop reads
 * is contiguous (16 kB for 512 rows: it stays in L1 while every block of 4 rows of a runs over
 * it).
 */
static void wg_products(const float *a, const float *b, float *out, u32 points, u32 rows,
                        u32 depth, u32 a_stride, u32 cols, u32 out_stride, u32 a_point,
                        u32 b_point, u32 out_point) {
  for (u32 xi = 0; xi < points; xi++) {
    const float *ax = a + xi * a_point;
    const float *bx = b + xi * b_point;
    float *ox = out + xi * out_point;
    for (u32 j = 0; j < cols; j += 8) {
      const float *panel = bx + j * depth;
      u32 t = 0;
      for (; t + 4 <= rows; t += 4) {
        const float *g0 = ax + t * a_stride, *g1 = g0 + a_stride, *g2 = g1 + a_stride;
        const float *g3 = g2 + a_stride;
        v128_t a0 = WG_ZERO, b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
        const float *bc = panel;
        for (u32 k = 0; k < depth; k++, bc += 8) {
          const v128_t w0 = wasm_v128_load(bc), w1 = wasm_v128_load(bc + 4);
          MAC_4X8(g0 + k, g1 + k, g2 + k, g3 + k, w0, w1);
        }
        float *o = ox + t * out_stride + j;
        wasm_v128_store(o, a0), wasm_v128_store(o + 4, b0);
        wasm_v128_store(o + out_stride, a1), wasm_v128_store(o + out_stride + 4, b1);
        wasm_v128_store(o + 2 * out_stride, a2), wasm_v128_store(o + 2 * out_stride + 4, b2);
        wasm_v128_store(o + 3 * out_stride, a3), wasm_v128_store(o + 3 * out_stride + 4, b3);
      }
      for (; t < rows; t++) {
        const float *g0 = ax + t * a_stride;
        v128_t a0 = WG_ZERO, b0 = a0;
        const float *bc = panel;
        for (u32 k = 0; k < depth; k++, bc += 8) {
          MAC_ROW_8(a0, b0, g0 + k, wasm_v128_load(bc), wasm_v128_load(bc + 4));
        }
        float *o = ox + t * out_stride + j;
        wasm_v128_store(o, a0), wasm_v128_store(o + 4, b0);
      }
    }
  }
}

/*
 * m[xi][ci - c0][co - o0] += sum over a block's tiles t < rows of xh[xi][t][ci] * dh[xi][t][co]
 * for the points xi, the input channels c0 <= ci < c1 (multiples of 4) and the output channels
 * o0 <= co < o1 (multiples of 8), both read as contiguous panels (4 channels of xh, 8 of dh per
 * tile); m holds `chunk` input channels by o1 - o0 output channels a point. The first block
 * (`first`) sets m instead, so that m needs no zeroing pass.
 */
static void wg_accumulate(const float *xh, const float *dh, float *m, u32 points, u32 rows,
                          u32 block, u32 ci4, u32 c0, u32 c1, u32 chunk, u32 co8, u32 o0, u32 o1,
                          int first) {
  const u32 xh_point = block * ci4 + WG_SKEW, dh_point = block * co8 + WG_SKEW;
  const u32 width = o1 - o0, m_point = chunk * width + WG_SKEW;
  for (u32 xi = 0; xi < points; xi++) {
    const float *xs = xh + xi * xh_point;
    const float *ds = dh + xi * dh_point;
    float *mm = m + xi * m_point - o0;
    for (u32 ci = c0; ci < c1; ci += 4) {
      float *w0 = mm + (ci - c0) * width, *w1 = w0 + width, *w2 = w1 + width, *w3 = w2 + width;
      for (u32 co = o0; co < o1; co += 8) {
        v128_t a0 = WG_ZERO, b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
        if (!first) {
          a0 = wasm_v128_load(w0 + co), b0 = wasm_v128_load(w0 + co + 4);
          a1 = wasm_v128_load(w1 + co), b1 = wasm_v128_load(w1 + co + 4);
          a2 = wasm_v128_load(w2 + co), b2 = wasm_v128_load(w2 + co + 4);
          a3 = wasm_v128_load(w3 + co), b3 = wasm_v128_load(w3 + co + 4);
        }
        const float *p = xs + ci * block, *q = ds + co * block;
        for (u32 t = 0; t < rows; t++, p += 4, q += 8) {
          const v128_t g0 = wasm_v128_load(q), g1 = wasm_v128_load(q + 4);
          MAC_4X8(p, p + 1, p + 2, p + 3, g0, g1);
        }
        wasm_v128_store(w0 + co, a0), wasm_v128_store(w0 + co + 4, b0);
        wasm_v128_store(w1 + co, a1), wasm_v128_store(w1 + co + 4, b1);
        wasm_v128_store(w2 + co, a2), wasm_v128_store(w2 + co + 4, b2);
        wasm_v128_store(w3 + co, a3), wasm_v128_store(w3 + co + 4, b3);
      }
    }
  }
}

EXPORT(bnn_winograd_input_grad)
void bnn_winograd_input_grad(const float *dy, const float *w, float *dx, float *u, float *v,
                             float *m, u32 batch, u32 in_h, u32 in_w, u32 in_c, u32 out_h,
                             u32 out_w, u32 out_c, u32 pad_top, u32 pad_left, u32 block, u32 chunk) {
  const u32 ci8 = round8(in_c), co4 = round4(out_c);
  const u32 tiles_h = (in_h + 1) / 2, tiles_w = (in_w + 1) / 2;
  const u64 tiles = count4(batch, tiles_h, tiles_w, 1);
  WG_INPUT_GRAD_REQUIRE(16);
  /*
   * u[xi][ci / 8][co][ci % 8] = (G g G')[xi] for g[j][k] = w[2 - j, 2 - k, ci, co], the flipped
   * filter; zero for the channels ci past in_c that fill the last panel of 8.
   */
  const u32 u_point = out_c * chunk + WG_SKEW;
  const u32 v_point = block * co4 + WG_SKEW, m_point = block * ci8 + WG_SKEW;
  const u32 image_tiles = tiles_h * tiles_w;
  for (u32 t0 = 0; t0 < (u32)tiles; t0 += block) {
    const u32 rows = (u32)tiles - t0 < block ? (u32)tiles - t0 : block;
    /* v[xi][t][co]: B' d B of the 4x4 tile of dy that dx's 2x2 tile t reads. */
    for (u32 t = 0; t < rows; t++) {
      const u32 g = t0 + t, b = g / image_tiles, ty = g % image_tiles / tiles_w;
      const u32 tx = g % tiles_w;
      const float *img = dy + b * out_h * out_w * out_c;
      const int y = (int)(2 * ty + pad_top) - 2, x = (int)(2 * tx + pad_left) - 2;
      for (u32 co = 0; co < co4; co += 4) {
        const u32 n = lanes(out_c, co);
        WG_TILE_FROM_IMAGE(img, y, x, out_h, out_w, out_c, co, n);
        WG_TILE_BT();
        WG_TILE_STORE(v + t * co4 + co, v_point);
      }
    }
    /* u for `chunk` input channels at a time (once, when all fit), then their products. */
    for (u32 j0 = 0; j0 < ci8; j0 += chunk) {
      const u32 cw = ci8 - j0 < chunk ? ci8 - j0 : chunk;
      if (chunk < ci8 || t0 == 0) {
        for (u32 ci = j0; ci < j0 + cw; ci += 4) {
          const u32 n = lanes(in_c, ci);
          for (u32 co = 0; co < out_c; co++) {
#define W_TAP(kh, kw) channel_lanes(w + (((kh) * 3 + (kw)) * in_c + ci) * out_c + co, out_c, n)
            /* Rows of G g (column k of g is column 2 - k of the filter, row j is row 2 - j). */
            v128_t r00, r10, r20, r30, r01, r11, r21, r31, r02, r12, r22, r32;
            WG_G(r00, r10, r20, r30, W_TAP(2, 2), W_TAP(1, 2), W_TAP(0, 2));
            WG_G(r01, r11, r21, r31, W_TAP(2, 1), W_TAP(1, 1), W_TAP(0, 1));
            WG_G(r02, r12, r22, r32, W_TAP(2, 0), W_TAP(1, 0), W_TAP(0, 0));
#undef W_TAP
            v128_t d00, d01, d02, d03, d10, d11, d12, d13, d20, d21, d22, d23, d30, d31, d32, d33;
            WG_G(d00, d01, d02, d03, r00, r01, r02);
            WG_G(d10, d11, d12, d13, r10, r11, r12);
            WG_G(d20, d21, d22, d23, r20, r21, r22);
            WG_G(d30, d31, d32, d33, r30, r31, r32);
            WG_TILE_STORE(u + ((ci - j0) / 8 * out_c + co) * 8 + ci % 8, u_point);
          }
        }
      }
      wg_products(v, u, m + j0, 16, rows, out_c, co4, cw, ci8, v_point, u_point, m_point);
    }
    /* dx's 2x2 tile = A' m A. */
    for (u32 t = 0; t < rows; t++) {
      const u32 g = t0 + t, b = g / image_tiles, ty = g % image_tiles / tiles_w;
      const u32 tx = g % tiles_w;
      float *img = dx + b * in_h * in_w * in_c;
      const u32 y = 2 * ty, x = 2 * tx;
      for (u32 ci = 0; ci < in_c; ci += 4) {
        const u32 n = lanes(in_c, ci);
        WG_TILE_LOAD(m + t * ci8 + ci, m_point);
        v128_t s00, s10, s01, s11, s02, s12, s03, s13;
        WG_AT(s00, s10, d00, d10, d20, d30);
        WG_AT(s01, s11, d01, d11, d21, d31);
        WG_AT(s02, s12, d02, d12, d22, d32);
        WG_AT(s03, s13, d03, d13, d23, d33);
        v128_t o00, o01, o10, o11;
        WG_AT(o00, o01, s00, s01, s02, s03);
        WG_AT(o10, o11, s10, s11, s12, s13);
        float *p = img + (y * in_w + x) * in_c + ci;
        store_lanes(p, o00, n);
        if (x + 1 < in_w) store_lanes(p + in_c, o01, n);
        if (y + 1 < in_h) {
          store_lanes(p + in_w * in_c, o10, n);
          if (x + 1 < in_w) store_lanes(p + (in_w + 1) * in_c, o11, n);
        }
      }
    }
  }
}

EXPORT(bnn_winograd_filter_grad)
void bnn_winograd_filter_grad(const float *x, const float *dy, float *dw, float *xh, float *dh,
                              float *m, u32 batch, u32 in_h, u32 in_w, u32 in_c, u32 out_h,
                              u32 out_w, u32 out_c, u32 pad_top, u32 pad_left, u32 block, u32 chunk,
                              u32 out_chunk) {
  const u32 ci4 = round4(in_c), co8 = round8(out_c);
  const u32 tiles_h = (out_h + 1) / 2, tiles_w = (out_w + 1) / 2;
  const u64 tiles = count4(batch, tiles_h, tiles_w, 1);
  WG_FILTER_GRAD_REQUIRE(16);
  /* Every channel pair's sums at once (over blocks of tiles), or chunks of them (one block). */
  const u32 width = out_chunk < co8 ? out_chunk : co8, whole = chunk >= ci4 && width >= co8;
  const u32 image_tiles = tiles_h * tiles_w;
  for (u32 t0 = 0; t0 < (u32)tiles; t0 += block) {
    const u32 rows = (u32)tiles - t0 < block ? (u32)tiles - t0 : block;
    for (u32 t = 0; t < rows; t++) {
      const u32 g = t0 + t, b = g / image_tiles, ty = g % image_tiles / tiles_w;
      const u32 tx = g % tiles_w;
      /* xh[xi][ci / 4][t][ci % 4]: B' X B of the 4x4 tile of x under dy's 2x2 tile t. */
      const float *img = x + b * in_h * in_w * in_c;
      const int y = (int)(2 * ty) - (int)pad_top, xc = (int)(2 * tx) - (int)pad_left;
      for (u32 ci = 0; ci < ci4; ci += 4) {
        const u32 n = lanes(in_c, ci);
        WG_TILE_FROM_IMAGE(img, y, xc, in_h, in_w, in_c, ci, n);
        WG_TILE_BT();
        WG_TILE_STORE(xh + (ci / 4 * block + t) * 4, block * ci4 + WG_SKEW);
      }
      /* dh[xi][co / 8][t][co % 8]: A DY A' of dy's 2x2 tile t. */
      const float *gimg = dy + b * out_h * out_w * out_c;
      for (u32 co = 0; co < co8; co += 4) {
        const u32 n = lanes(out_c, co);
        const int gy = (int)(2 * ty), gx = (int)(2 * tx);
        const v128_t e00 = pixel_lanes(gimg, gy, gx, out_h, out_w, out_c, co, n);
        const v128_t e01 = pixel_lanes(gimg, gy, gx + 1, out_h, out_w, out_c, co, n);
        const v128_t e10 = pixel_lanes(gimg, gy + 1, gx, out_h, out_w, out_c, co, n);
        const v128_t e11 = pixel_lanes(gimg, gy + 1, gx + 1, out_h, out_w, out_c, co, n);
        v128_t r00, r10, r20, r30, r01, r11, r21, r31;
        WG_A(r00, r10, r20, r30, e00, e10);
        WG_A(r01, r11, r21, r31, e01, e11);
        v128_t d00, d01, d02, d03, d10, d11, d12, d13, d20, d21, d22, d23, d30, d31, d32, d33;
        WG_A(d00, d01, d02, d03, r00, r01);
        WG_A(d10, d11, d12, d13, r10, r11);
        WG_A(d20, d21, d22, d23, r20, r21);
        WG_A(d30, d31, d32, d33, r30, r31);
        WG_TILE_STORE(dh + (co / 8 * block + t) * 8 + co % 8, block * co8 + WG_SKEW);
      }
    }
    if (whole) wg_accumulate(xh, dh, m, 16, rows, block, ci4, 0, ci4, ci4, co8, 0, co8, t0 == 0);
  }
  /*
   * The taps, `chunk` input channels by `width` output channels at a time. Chunks smaller than
   * all channels need all tiles in one block: their points' sums, then their taps, so that m
   * stays in cache instead of holding every channel pair's points; chunking both axes reads xh
   * and dh a few times each, not dh once per chunk of 4 input channels.
   */
  for (u32 c0 = 0; c0 < ci4; c0 += chunk) {
    const u32 c1 = ci4 - c0 < chunk ? ci4 : c0 + chunk;
    for (u32 co0 = 0; co0 < co8; co0 += width) {
      const u32 co1 = co8 - co0 < width ? co8 : co0 + width;
      if (!whole)
        wg_accumulate(xh, dh, m, 16, (u32)tiles, block, ci4, c0, c1, chunk, co8, co0, co1, 1);
      /* dw[kh, kw, ci, co] = (G' m G)[kh][kw]. */
      for (u32 ci = c0; ci < c1 && ci < in_c; ci++) {
        for (u32 co = co0; co < co1 && co < out_c; co += 4) {
          const u32 n = lanes(out_c, co);
          WG_TILE_LOAD(m + (ci - c0) * (co1 - co0) + co - co0, chunk * (co1 - co0) + WG_SKEW);
          v128_t s00, s10, s20, s01, s11, s21, s02, s12, s22, s03, s13, s23;
          WG_GT(s00, s10, s20, d00, d10, d20, d30);
          WG_GT(s01, s11, s21, d01, d11, d21, d31);
          WG_GT(s02, s12, s22, d02, d12, d22, d32);
          WG_GT(s03, s13, s23, d03, d13, d23, d33);
          v128_t o0, o1, o2;
          float *p = dw + ci * out_c + co;
          const u32 tap = in_c * out_c;
          WG_GT(o0, o1, o2, s00, s01, s02, s03);
          store_lanes(p, o0, n), store_lanes(p + tap, o1, n), store_lanes(p + 2 * tap, o2, n);
          WG_GT(o0, o1, o2, s10, s11, s12, s13);
          store_lanes(p + 3 * tap, o0, n), store_lanes(p + 4 * tap, o1, n);
          store_lanes(p + 5 * tap, o2, n);
          WG_GT(o0, o1, o2, s20, s21, s22, s23);
          store_lanes(p + 6 * tap, o0, n), store_lanes(p + 7 * tap, o1, n);
          store_lanes(p + 8 * tap, o2, n);
        }
      }
    }
  }
}

/*
 * Winograd F(4x4, 3x3): the same gradients over 4x4 tiles, 36 multiplies per 4x4 block of outputs
 * and channel pair instead of 144 (4x fewer than direct, against F(2x2, 3x3)'s 2.25x), for images
 * of 3 pixels and more a side (the caller, bnnKernels.ts, picks the tile size that multiplies
 * least). The points are 0, 1, -1, 2, -2 and infinity:
 *   B' = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
 *   G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
 *   A' = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
 * Its transforms weigh values by up to 100 (B' d B) and by as little as 1/576 (G g G'), so the
 * results round about ten times more than F(2x2, 3x3)'s (1e-5 of the largest value at 512
 * channels, against 1e-6), still far below a gradient's noise; winogradConv.test.ts bounds both
 * against the cpu backend. The layouts are F(2x2, 3x3)'s with 36 points for 16.
 */
#define F4_MUL(v, c) wasm_f32x4_mul(v, wasm_f32x4_splat(c))
/* (a0..a5) = B' (a0..a5), in place. */
#define WG4_BT(a0, a1, a2, a3, a4, a5)                                               \
  do {                                                                               \
    const v128_t p_ = F4_SUB(a4, a2), q_ = F4_MUL(F4_SUB(a3, a1), 2.0f);             \
    const v128_t r_ = F4_ADD(a3, a4), s_ = F4_MUL(F4_ADD(a1, a2), 4.0f);             \
    const v128_t t_ = F4_SUB(a4, a3), u_ = F4_MUL(F4_SUB(a1, a2), 4.0f);             \
    const v128_t b0_ = F4_ADD(F4_SUB(F4_MUL(a0, 4.0f), F4_MUL(a2, 5.0f)), a4);       \
    const v128_t b5_ = F4_ADD(F4_SUB(F4_MUL(a1, 4.0f), F4_MUL(a3, 5.0f)), a5);       \
    a0 = b0_, a1 = F4_SUB(r_, s_), a2 = F4_ADD(t_, u_), a3 = F4_ADD(p_, q_);         \
    a4 = F4_SUB(p_, q_), a5 = b5_;                                                   \
  } while (0)
/* (o0..o5) = G (a0, a1, a2). */
#define WG4_G(o0, o1, o2, o3, o4, o5, a0, a1, a2)                                   \
  do {                                                                              \
    const v128_t s_ = F4_ADD(a0, a2), e_ = F4_ADD(F4_MUL(a0, 0.25f), a2);           \
    o0 = F4_MUL(a0, 0.25f);                                                         \
    o1 = F4_MUL(F4_ADD(s_, a1), -1.0f / 6.0f);                                      \
    o2 = F4_MUL(F4_SUB(s_, a1), -1.0f / 6.0f);                                      \
    o3 = F4_MUL(F4_ADD(e_, F4_MUL(a1, 0.5f)), 1.0f / 6.0f);                          \
    o4 = F4_MUL(F4_SUB(e_, F4_MUL(a1, 0.5f)), 1.0f / 6.0f);                          \
    o5 = a2;                                                                        \
  } while (0)
/* (o0..o3) = A' (a0..a5). */
#define WG4_AT(o0, o1, o2, o3, a0, a1, a2, a3, a4, a5)                     \
  do {                                                                     \
    const v128_t s_ = F4_ADD(a1, a2), d_ = F4_SUB(a1, a2);                 \
    const v128_t t_ = F4_ADD(a3, a4), e_ = F4_SUB(a3, a4);                 \
    o0 = F4_ADD(F4_ADD(a0, s_), t_);                                       \
    o1 = F4_ADD(d_, F4_MUL(e_, 2.0f));                                     \
    o2 = F4_ADD(s_, F4_MUL(t_, 4.0f));                                     \
    o3 = F4_ADD(F4_ADD(d_, F4_MUL(e_, 8.0f)), a5);                         \
  } while (0)
/* (o0..o5) = A (a0..a3). */
#define WG4_A(o0, o1, o2, o3, o4, o5, a0, a1, a2, a3)                      \
  do {                                                                     \
    const v128_t s_ = F4_ADD(a0, a2), d_ = F4_ADD(a1, a3);                 \
    const v128_t t_ = F4_ADD(a0, F4_MUL(a2, 4.0f));                        \
    const v128_t e_ = F4_ADD(F4_MUL(a1, 2.0f), F4_MUL(a3, 8.0f));          \
    o0 = a0, o1 = F4_ADD(s_, d_), o2 = F4_SUB(s_, d_);                     \
    o3 = F4_ADD(t_, e_), o4 = F4_SUB(t_, e_), o5 = a3;                     \
  } while (0)
/* (o0, o1, o2) = G' (a0..a5). */
#define WG4_GT(o0, o1, o2, a0, a1, a2, a3, a4, a5)                                  \
  do {                                                                              \
    const v128_t s_ = F4_ADD(a1, a2), d_ = F4_SUB(a1, a2);                          \
    const v128_t t_ = F4_ADD(a3, a4), e_ = F4_SUB(a3, a4);                          \
    o0 = F4_ADD(F4_ADD(F4_MUL(a0, 0.25f), F4_MUL(s_, -1.0f / 6.0f)),                \
                F4_MUL(t_, 1.0f / 24.0f));                                          \
    o1 = F4_ADD(F4_MUL(d_, -1.0f / 6.0f), F4_MUL(e_, 1.0f / 12.0f));                \
    o2 = F4_ADD(F4_MUL(F4_SUB(t_, s_), 1.0f / 6.0f), a5);                           \
  } while (0)

/* A 6x6 tile d00..d55 (row, column) in the caller's locals, transformed in place to B' d B. */
#define WG4_TILE_BT()                              \
  do {                                             \
    WG4_BT(d00, d10, d20, d30, d40, d50);          \
    WG4_BT(d01, d11, d21, d31, d41, d51);          \
    WG4_BT(d02, d12, d22, d32, d42, d52);          \
    WG4_BT(d03, d13, d23, d33, d43, d53);          \
    WG4_BT(d04, d14, d24, d34, d44, d54);          \
    WG4_BT(d05, d15, d25, d35, d45, d55);          \
    WG4_BT(d00, d01, d02, d03, d04, d05);          \
    WG4_BT(d10, d11, d12, d13, d14, d15);          \
    WG4_BT(d20, d21, d22, d23, d24, d25);          \
    WG4_BT(d30, d31, d32, d33, d34, d35);          \
    WG4_BT(d40, d41, d42, d43, d44, d45);          \
    WG4_BT(d50, d51, d52, d53, d54, d55);          \
  } while (0)
/* Row r of the tile: stores its 6 points (xi = 6 r + column) at p + xi * stride. */
#define WG4_ROW_STORE(r, p, stride)                                                           \
  wasm_v128_store((p) + (6 * r) * (stride), d##r##0),                                         \
      wasm_v128_store((p) + (6 * r + 1) * (stride), d##r##1),                                 \
      wasm_v128_store((p) + (6 * r + 2) * (stride), d##r##2),                                 \
      wasm_v128_store((p) + (6 * r + 3) * (stride), d##r##3),                                 \
      wasm_v128_store((p) + (6 * r + 4) * (stride), d##r##4),                                 \
      wasm_v128_store((p) + (6 * r + 5) * (stride), d##r##5)
#define WG4_TILE_STORE(p, stride)                                                  \
  do {                                                                             \
    WG4_ROW_STORE(0, p, stride), WG4_ROW_STORE(1, p, stride);                      \
    WG4_ROW_STORE(2, p, stride), WG4_ROW_STORE(3, p, stride);                      \
    WG4_ROW_STORE(4, p, stride), WG4_ROW_STORE(5, p, stride);                      \
  } while (0)
#define WG4_ROW_LOAD(r, p, stride)                                                            \
  v128_t d##r##0 = wasm_v128_load((p) + (6 * r) * (stride));                                  \
  v128_t d##r##1 = wasm_v128_load((p) + (6 * r + 1) * (stride));                              \
  v128_t d##r##2 = wasm_v128_load((p) + (6 * r + 2) * (stride));                              \
  v128_t d##r##3 = wasm_v128_load((p) + (6 * r + 3) * (stride));                              \
  v128_t d##r##4 = wasm_v128_load((p) + (6 * r + 4) * (stride));                              \
  v128_t d##r##5 = wasm_v128_load((p) + (6 * r + 5) * (stride))
#define WG4_TILE_LOAD(p, stride)                                                   \
  WG4_ROW_LOAD(0, p, stride);                                                      \
  WG4_ROW_LOAD(1, p, stride);                                                      \
  WG4_ROW_LOAD(2, p, stride);                                                      \
  WG4_ROW_LOAD(3, p, stride);                                                      \
  WG4_ROW_LOAD(4, p, stride);                                                      \
  WG4_ROW_LOAD(5, p, stride)
/* Row r of the 6x6 tile of `img` (h x w x ch) at rows y.., columns x.., channels [c, c+n). */
#define WG4_ROW_FROM_IMAGE(r, img, y, x, h, w, ch, c, n)                                       \
  v128_t d##r##0 = pixel_lanes(img, (y) + r, x, h, w, ch, c, n);                               \
  v128_t d##r##1 = pixel_lanes(img, (y) + r, (x) + 1, h, w, ch, c, n);                         \
  v128_t d##r##2 = pixel_lanes(img, (y) + r, (x) + 2, h, w, ch, c, n);                         \
  v128_t d##r##3 = pixel_lanes(img, (y) + r, (x) + 3, h, w, ch, c, n);                         \
  v128_t d##r##4 = pixel_lanes(img, (y) + r, (x) + 4, h, w, ch, c, n);                         \
  v128_t d##r##5 = pixel_lanes(img, (y) + r, (x) + 5, h, w, ch, c, n)
#define WG4_TILE_FROM_IMAGE(img, y, x, h, w, ch, c, n) \
  WG4_ROW_FROM_IMAGE(0, img, y, x, h, w, ch, c, n);    \
  WG4_ROW_FROM_IMAGE(1, img, y, x, h, w, ch, c, n);    \
  WG4_ROW_FROM_IMAGE(2, img, y, x, h, w, ch, c, n);    \
  WG4_ROW_FROM_IMAGE(3, img, y, x, h, w, ch, c, n);    \
  WG4_ROW_FROM_IMAGE(4, img, y, x, h, w, ch, c, n);    \
  WG4_ROW_FROM_IMAGE(5, img, y, x, h, w, ch, c, n)

EXPORT(bnn_winograd4_input_grad)
void bnn_winograd4_input_grad(const float *dy, const float *w, float *dx, float *u, float *v,
                              float *m, u32 batch, u32 in_h, u32 in_w, u32 in_c, u32 out_h,
                              u32 out_w, u32 out_c, u32 pad_top, u32 pad_left, u32 block, u32 chunk) {
  const u32 ci8 = round8(in_c), co4 = round4(out_c);
  const u32 tiles_h = (in_h + 3) / 4, tiles_w = (in_w + 3) / 4;
  const u64 tiles = count4(batch, tiles_h, tiles_w, 1);
  WG_INPUT_GRAD_REQUIRE(36);
  /* u[xi][ci / 8][co][ci % 8] = (G g G')[xi] for the flipped filter, as in F(2x2, 3x3). */
  const u32 u_point = out_c * chunk + WG_SKEW;
  const u32 v_point = block * co4 + WG_SKEW, m_point = block * ci8 + WG_SKEW;
  const u32 image_tiles = tiles_h * tiles_w;
  for (u32 t0 = 0; t0 < (u32)tiles; t0 += block) {
    const u32 rows = (u32)tiles - t0 < block ? (u32)tiles - t0 : block;
    /* v[xi][t][co]: B' d B of the 6x6 tile of dy that dx's 4x4 tile t reads. */
    for (u32 t = 0; t < rows; t++) {
      const u32 g = t0 + t, b = g / image_tiles, ty = g % image_tiles / tiles_w;
      const u32 tx = g % tiles_w;
      const float *img = dy + b * out_h * out_w * out_c;
      const int y = (int)(4 * ty + pad_top) - 2, x = (int)(4 * tx + pad_left) - 2;
      for (u32 co = 0; co < co4; co += 4) {
        const u32 n = lanes(out_c, co);
        WG4_TILE_FROM_IMAGE(img, y, x, out_h, out_w, out_c, co, n);
        WG4_TILE_BT();
        WG4_TILE_STORE(v + t * co4 + co, v_point);
      }
    }
    /* u for `chunk` input channels at a time (once, when all fit), then their products. */
    for (u32 j0 = 0; j0 < ci8; j0 += chunk) {
      const u32 cw = ci8 - j0 < chunk ? ci8 - j0 : chunk;
      if (chunk < ci8 || t0 == 0) {
        for (u32 ci = j0; ci < j0 + cw; ci += 4) {
          const u32 n = lanes(in_c, ci);
          for (u32 co = 0; co < out_c; co++) {
#define W_TAP(kh, kw) channel_lanes(w + (((kh) * 3 + (kw)) * in_c + ci) * out_c + co, out_c, n)
            /* Columns of G g (column k of g is column 2 - k of the filter, row j is row 2 - j). */
            v128_t r00, r10, r20, r30, r40, r50, r01, r11, r21, r31, r41, r51;
            v128_t r02, r12, r22, r32, r42, r52;
            WG4_G(r00, r10, r20, r30, r40, r50, W_TAP(2, 2), W_TAP(1, 2), W_TAP(0, 2));
            WG4_G(r01, r11, r21, r31, r41, r51, W_TAP(2, 1), W_TAP(1, 1), W_TAP(0, 1));
            WG4_G(r02, r12, r22, r32, r42, r52, W_TAP(2, 0), W_TAP(1, 0), W_TAP(0, 0));
#undef W_TAP
            v128_t d00, d01, d02, d03, d04, d05, d10, d11, d12, d13, d14, d15;
            v128_t d20, d21, d22, d23, d24, d25, d30, d31, d32, d33, d34, d35;
            v128_t d40, d41, d42, d43, d44, d45, d50, d51, d52, d53, d54, d55;
            WG4_G(d00, d01, d02, d03, d04, d05, r00, r01, r02);
            WG4_G(d10, d11, d12, d13, d14, d15, r10, r11, r12);
            WG4_G(d20, d21, d22, d23, d24, d25, r20, r21, r22);
            WG4_G(d30, d31, d32, d33, d34, d35, r30, r31, r32);
            WG4_G(d40, d41, d42, d43, d44, d45, r40, r41, r42);
            WG4_G(d50, d51, d52, d53, d54, d55, r50, r51, r52);
            WG4_TILE_STORE(u + ((ci - j0) / 8 * out_c + co) * 8 + ci % 8, u_point);
          }
        }
      }
      wg_products(v, u, m + j0, 36, rows, out_c, co4, cw, ci8, v_point, u_point, m_point);
    }
    /* dx's 4x4 tile = A' m A. */
    for (u32 t = 0; t < rows; t++) {
      const u32 g = t0 + t, b = g / image_tiles, ty = g % image_tiles / tiles_w;
      const u32 tx = g % tiles_w;
      float *img = dx + b * in_h * in_w * in_c;
      const u32 y = 4 * ty, x = 4 * tx;
      const u32 nh = in_h - y < 4 ? in_h - y : 4, nw = in_w - x < 4 ? in_w - x : 4;
      for (u32 ci = 0; ci < in_c; ci += 4) {
        const u32 n = lanes(in_c, ci);
        WG4_TILE_LOAD(m + t * ci8 + ci, m_point);
        v128_t s00, s10, s20, s30, s01, s11, s21, s31, s02, s12, s22, s32;
        v128_t s03, s13, s23, s33, s04, s14, s24, s34, s05, s15, s25, s35;
        WG4_AT(s00, s10, s20, s30, d00, d10, d20, d30, d40, d50);
        WG4_AT(s01, s11, s21, s31, d01, d11, d21, d31, d41, d51);
        WG4_AT(s02, s12, s22, s32, d02, d12, d22, d32, d42, d52);
        WG4_AT(s03, s13, s23, s33, d03, d13, d23, d33, d43, d53);
        WG4_AT(s04, s14, s24, s34, d04, d14, d24, d34, d44, d54);
        WG4_AT(s05, s15, s25, s35, d05, d15, d25, d35, d45, d55);
        float *p = img + (y * in_w + x) * in_c + ci;
#define DX_ROW(r)                                                              \
  if (r < nh) {                                                                \
    v128_t o0, o1, o2, o3;                                                     \
    WG4_AT(o0, o1, o2, o3, s##r##0, s##r##1, s##r##2, s##r##3, s##r##4, s##r##5); \
    float *q_ = p + r * in_w * in_c;                                           \
    store_lanes(q_, o0, n);                                                    \
    if (nw > 1) store_lanes(q_ + in_c, o1, n);                                 \
    if (nw > 2) store_lanes(q_ + 2 * in_c, o2, n);                             \
    if (nw > 3) store_lanes(q_ + 3 * in_c, o3, n);                             \
  }
        DX_ROW(0) DX_ROW(1) DX_ROW(2) DX_ROW(3)
#undef DX_ROW
      }
    }
  }
}

EXPORT(bnn_winograd4_filter_grad)
void bnn_winograd4_filter_grad(const float *x, const float *dy, float *dw, float *xh, float *dh,
                               float *m, u32 batch, u32 in_h, u32 in_w, u32 in_c, u32 out_h,
                               u32 out_w, u32 out_c, u32 pad_top, u32 pad_left, u32 block, u32 chunk,
                               u32 out_chunk) {
  const u32 ci4 = round4(in_c), co8 = round8(out_c);
  const u32 tiles_h = (out_h + 3) / 4, tiles_w = (out_w + 3) / 4;
  const u64 tiles = count4(batch, tiles_h, tiles_w, 1);
  WG_FILTER_GRAD_REQUIRE(36);
  /* Every channel pair's sums at once (over blocks of tiles), or chunks of them (one block). */
  const u32 width = out_chunk < co8 ? out_chunk : co8, whole = chunk >= ci4 && width >= co8;
  const u32 image_tiles = tiles_h * tiles_w;
  for (u32 t0 = 0; t0 < (u32)tiles; t0 += block) {
    const u32 rows = (u32)tiles - t0 < block ? (u32)tiles - t0 : block;
    for (u32 t = 0; t < rows; t++) {
      const u32 g = t0 + t, b = g / image_tiles, ty = g % image_tiles / tiles_w;
      const u32 tx = g % tiles_w;
      /* xh[xi][ci / 4][t][ci % 4]: B' X B of the 6x6 tile of x under dy's 4x4 tile t. */
      const float *img = x + b * in_h * in_w * in_c;
      const int y = (int)(4 * ty) - (int)pad_top, xc = (int)(4 * tx) - (int)pad_left;
      for (u32 ci = 0; ci < ci4; ci += 4) {
        const u32 n = lanes(in_c, ci);
        WG4_TILE_FROM_IMAGE(img, y, xc, in_h, in_w, in_c, ci, n);
        WG4_TILE_BT();
        WG4_TILE_STORE(xh + (ci / 4 * block + t) * 4, block * ci4 + WG_SKEW);
      }
      /* dh[xi][co / 8][t][co % 8]: A DY A' of dy's 4x4 tile t. */
      const float *gimg = dy + b * out_h * out_w * out_c;
      const int gy = (int)(4 * ty), gx = (int)(4 * tx);
      for (u32 co = 0; co < co8; co += 4) {
        const u32 n = lanes(out_c, co);
#define E_ROW(r)                                                                     \
  const v128_t e##r##0 = pixel_lanes(gimg, gy + r, gx, out_h, out_w, out_c, co, n);     \
  const v128_t e##r##1 = pixel_lanes(gimg, gy + r, gx + 1, out_h, out_w, out_c, co, n); \
  const v128_t e##r##2 = pixel_lanes(gimg, gy + r, gx + 2, out_h, out_w, out_c, co, n); \
  const v128_t e##r##3 = pixel_lanes(gimg, gy + r, gx + 3, out_h, out_w, out_c, co, n)
        E_ROW(0);
        E_ROW(1);
        E_ROW(2);
        E_ROW(3);
#undef E_ROW
        v128_t r00, r10, r20, r30, r40, r50, r01, r11, r21, r31, r41, r51;
        v128_t r02, r12, r22, r32, r42, r52, r03, r13, r23, r33, r43, r53;
        WG4_A(r00, r10, r20, r30, r40, r50, e00, e10, e20, e30);
        WG4_A(r01, r11, r21, r31, r41, r51, e01, e11, e21, e31);
        WG4_A(r02, r12, r22, r32, r42, r52, e02, e12, e22, e32);
        WG4_A(r03, r13, r23, r33, r43, r53, e03, e13, e23, e33);
        v128_t d00, d01, d02, d03, d04, d05, d10, d11, d12, d13, d14, d15;
        v128_t d20, d21, d22, d23, d24, d25, d30, d31, d32, d33, d34, d35;
        v128_t d40, d41, d42, d43, d44, d45, d50, d51, d52, d53, d54, d55;
        WG4_A(d00, d01, d02, d03, d04, d05, r00, r01, r02, r03);
        WG4_A(d10, d11, d12, d13, d14, d15, r10, r11, r12, r13);
        WG4_A(d20, d21, d22, d23, d24, d25, r20, r21, r22, r23);
        WG4_A(d30, d31, d32, d33, d34, d35, r30, r31, r32, r33);
        WG4_A(d40, d41, d42, d43, d44, d45, r40, r41, r42, r43);
        WG4_A(d50, d51, d52, d53, d54, d55, r50, r51, r52, r53);
        WG4_TILE_STORE(dh + (co / 8 * block + t) * 8 + co % 8, block * co8 + WG_SKEW);
      }
    }
    if (whole) wg_accumulate(xh, dh, m, 36, rows, block, ci4, 0, ci4, ci4, co8, 0, co8, t0 == 0);
  }
  /*
   * The taps, `chunk` input channels by `width` output channels at a time. Chunks smaller than
   * all channels need all tiles in one block: their points' sums, then their taps, so that m
   * stays in cache instead of holding every channel pair's points; chunking both axes reads xh
   * and dh a few times each, not dh once per chunk of 4 input channels.
   */
  for (u32 c0 = 0; c0 < ci4; c0 += chunk) {
    const u32 c1 = ci4 - c0 < chunk ? ci4 : c0 + chunk;
    for (u32 co0 = 0; co0 < co8; co0 += width) {
      const u32 co1 = co8 - co0 < width ? co8 : co0 + width;
      if (!whole)
        wg_accumulate(xh, dh, m, 36, (u32)tiles, block, ci4, c0, c1, chunk, co8, co0, co1, 1);
      /* dw[kh, kw, ci, co] = (G' m G)[kh][kw]. */
      for (u32 ci = c0; ci < c1 && ci < in_c; ci++) {
        for (u32 co = co0; co < co1 && co < out_c; co += 4) {
          const u32 n = lanes(out_c, co);
          WG4_TILE_LOAD(m + (ci - c0) * (co1 - co0) + co - co0, chunk * (co1 - co0) + WG_SKEW);
          v128_t s00, s10, s20, s01, s11, s21, s02, s12, s22;
          v128_t s03, s13, s23, s04, s14, s24, s05, s15, s25;
          WG4_GT(s00, s10, s20, d00, d10, d20, d30, d40, d50);
          WG4_GT(s01, s11, s21, d01, d11, d21, d31, d41, d51);
          WG4_GT(s02, s12, s22, d02, d12, d22, d32, d42, d52);
          WG4_GT(s03, s13, s23, d03, d13, d23, d33, d43, d53);
          WG4_GT(s04, s14, s24, d04, d14, d24, d34, d44, d54);
          WG4_GT(s05, s15, s25, d05, d15, d25, d35, d45, d55);
          float *p = dw + ci * out_c + co;
          const u32 tap = in_c * out_c;
          v128_t o0, o1, o2;
          WG4_GT(o0, o1, o2, s00, s01, s02, s03, s04, s05);
          store_lanes(p, o0, n), store_lanes(p + tap, o1, n), store_lanes(p + 2 * tap, o2, n);
          WG4_GT(o0, o1, o2, s10, s11, s12, s13, s14, s15);
          store_lanes(p + 3 * tap, o0, n), store_lanes(p + 4 * tap, o1, n);
          store_lanes(p + 5 * tap, o2, n);
          WG4_GT(o0, o1, o2, s20, s21, s22, s23, s24, s25);
          store_lanes(p + 6 * tap, o0, n), store_lanes(p + 7 * tap, o1, n);
          store_lanes(p + 8 * tap, o2, n);
        }
      }
    }
  }
}

/*
 * Winograd gradients of 3x3 stride-2 convolutions (the downsampling convolutions of ResNetE-18's
 * stages), by splitting the transposed convolution into its phases. Along one axis, with the
 * padded coordinate s = y + pad = 2 i + k (input pixel y, output pixel i, tap k), an even s takes
 * taps 0 and 2 (a 2-tap filter over the outputs) and an odd s takes tap 1 alone. Over 4
 * consecutive s (2 even, 2 odd) the 2-tap part is F(2, 2): 3 multiplies for 4, the 1-tap part 2;
 * so 5 "points" for 6 multiplies, and in 2-D 25 points for a 4x4 block of the input instead of
 * 36 multiplies (1.44x fewer) per channel pair. Every transform only adds and subtracts, so the
 * results equal the direct kernels' up to the rounding of a reordered sum.
 *
 * Input gradient, tile = dx at s = 4T..4T+3, from dy at i = 2T-1, 2T, 2T+1 (d0, d1, d2):
 *   points: (d0 - d1) w2, d1 (w0 + w2), (d2 - d1) w0, d1 w1, d2 w1;
 *   dx(4T) = p0 + p1, dx(4T+1) = p3, dx(4T+2) = p1 + p2, dx(4T+3) = p4.
 * Filter gradient, tile = dy at i = 2T, 2T+1 (g0, g1), from x at s = 4T..4T+4 (x0..x4):
 *   points: (x0 - x2) g0, x2 (g0 + g1), (x4 - x2) g1, x1 g0, x3 g1;
 *   dw0 = q0 + q1, dw1 = q3 + q4, dw2 = q1 + q2, summed over the tiles.
 * The layouts, blocks and products are the stride-1 kernels' with 25 points.
 */
/* (o0..o4) = the input gradient's transform of dy (a0, a1, a2). */
#define S2_BT(o0, o1, o2, o3, o4, a0, a1, a2) \
  do {                                        \
    o0 = F4_SUB(a0, a1), o1 = a1;             \
    o2 = F4_SUB(a2, a1), o3 = a1, o4 = a2;    \
  } while (0)
/* (o0..o4) = the input gradient's transform of the taps (a0, a1, a2). */
#define S2_G(o0, o1, o2, o3, o4, a0, a1, a2) \
  do {                                       \
    o0 = a2, o1 = F4_ADD(a0, a2), o2 = a0;   \
    o3 = a1, o4 = a1;                        \
  } while (0)
/* (o0..o3) = the input gradient's 4 outputs of the points (a0..a4). */
#define S2_AT(o0, o1, o2, o3, a0, a1, a2, a3, a4) \
  do {                                            \
    o0 = F4_ADD(a0, a1), o1 = a3;                 \
    o2 = F4_ADD(a1, a2), o3 = a4;                 \
  } while (0)
/* (o0..o4) = the filter gradient's transform of x (a0..a4). */
#define S2_XT(o0, o1, o2, o3, o4, a0, a1, a2, a3, a4) \
  do {                                                \
    o0 = F4_SUB(a0, a2), o1 = a2;                     \
    o2 = F4_SUB(a4, a2), o3 = a1, o4 = a3;            \
  } while (0)
/* (o0..o4) = the filter gradient's transform of dy (a0, a1). */
#define S2_DT(o0, o1, o2, o3, o4, a0, a1)  \
  do {                                     \
    o0 = a0, o1 = F4_ADD(a0, a1), o2 = a1; \
    o3 = a0, o4 = a1;                      \
  } while (0)
/* (o0, o1, o2) = the filter gradient's 3 taps of the points (a0..a4). */
#define S2_FT(o0, o1, o2, a0, a1, a2, a3, a4) \
  do {                                        \
    o0 = F4_ADD(a0, a1), o1 = F4_ADD(a3, a4); \
    o2 = F4_ADD(a1, a2);                      \
  } while (0)
/* The 25 points d00..d44 (point 5 p + q) at p + point * stride. */
#define S2_TILE_STORE(p, stride) \
  do { \
    wasm_v128_store((p), d00), wasm_v128_store((p) + 1 * (stride), d01); \
    wasm_v128_store((p) + 2 * (stride), d02), wasm_v128_store((p) + 3 * (stride), d03); \
    wasm_v128_store((p) + 4 * (stride), d04), wasm_v128_store((p) + 5 * (stride), d10); \
    wasm_v128_store((p) + 6 * (stride), d11), wasm_v128_store((p) + 7 * (stride), d12); \
    wasm_v128_store((p) + 8 * (stride), d13), wasm_v128_store((p) + 9 * (stride), d14); \
    wasm_v128_store((p) + 10 * (stride), d20), wasm_v128_store((p) + 11 * (stride), d21); \
    wasm_v128_store((p) + 12 * (stride), d22), wasm_v128_store((p) + 13 * (stride), d23); \
    wasm_v128_store((p) + 14 * (stride), d24), wasm_v128_store((p) + 15 * (stride), d30); \
    wasm_v128_store((p) + 16 * (stride), d31), wasm_v128_store((p) + 17 * (stride), d32); \
    wasm_v128_store((p) + 18 * (stride), d33), wasm_v128_store((p) + 19 * (stride), d34); \
    wasm_v128_store((p) + 20 * (stride), d40), wasm_v128_store((p) + 21 * (stride), d41); \
    wasm_v128_store((p) + 22 * (stride), d42), wasm_v128_store((p) + 23 * (stride), d43); \
    wasm_v128_store((p) + 24 * (stride), d44); \
  } while (0)
#define S2_TILE_LOAD(p, stride) \
  v128_t d00 = wasm_v128_load((p)), d01 = wasm_v128_load((p) + 1 * (stride)), d02 = wasm_v128_load((p) + 2 * (stride)); \
  v128_t d03 = wasm_v128_load((p) + 3 * (stride)), d04 = wasm_v128_load((p) + 4 * (stride)), d10 = wasm_v128_load((p) + 5 * (stride)); \
  v128_t d11 = wasm_v128_load((p) + 6 * (stride)), d12 = wasm_v128_load((p) + 7 * (stride)), d13 = wasm_v128_load((p) + 8 * (stride)); \
  v128_t d14 = wasm_v128_load((p) + 9 * (stride)), d20 = wasm_v128_load((p) + 10 * (stride)), d21 = wasm_v128_load((p) + 11 * (stride)); \
  v128_t d22 = wasm_v128_load((p) + 12 * (stride)), d23 = wasm_v128_load((p) + 13 * (stride)), d24 = wasm_v128_load((p) + 14 * (stride)); \
  v128_t d30 = wasm_v128_load((p) + 15 * (stride)), d31 = wasm_v128_load((p) + 16 * (stride)), d32 = wasm_v128_load((p) + 17 * (stride)); \
  v128_t d33 = wasm_v128_load((p) + 18 * (stride)), d34 = wasm_v128_load((p) + 19 * (stride)), d40 = wasm_v128_load((p) + 20 * (stride)); \
  v128_t d41 = wasm_v128_load((p) + 21 * (stride)), d42 = wasm_v128_load((p) + 22 * (stride)), d43 = wasm_v128_load((p) + 23 * (stride)); \
  v128_t d44 = wasm_v128_load((p) + 24 * (stride))

EXPORT(bnn_winograd_s2_input_grad)
void bnn_winograd_s2_input_grad(const float *dy, const float *w, float *dx, float *u, float *v,
                                float *m, u32 batch, u32 in_h, u32 in_w, u32 in_c, u32 out_h,
                                u32 out_w, u32 out_c, u32 pad_top, u32 pad_left, u32 block, u32 chunk) {
  const u32 ci8 = round8(in_c), co4 = round4(out_c);
  const u32 tiles_h = (in_h + pad_top + 3) / 4, tiles_w = (in_w + pad_left + 3) / 4;
  const u64 tiles = count4(batch, tiles_h, tiles_w, 1);
  WG_INPUT_GRAD_REQUIRE(25);
  /* u[xi][ci / 8][co][ci % 8]: the taps' transform along kh (p), then kw (q). */
  const u32 u_point = out_c * chunk + WG_SKEW;
  const u32 v_point = block * co4 + WG_SKEW, m_point = block * ci8 + WG_SKEW;
  const u32 image_tiles = tiles_h * tiles_w;
  for (u32 t0 = 0; t0 < (u32)tiles; t0 += block) {
    const u32 rows = (u32)tiles - t0 < block ? (u32)tiles - t0 : block;
    /* v[xi][t][co]: the transform of dy's 3x3 tile at rows 2 ty - 1.., columns 2 tx - 1... */
    for (u32 t = 0; t < rows; t++) {
      const u32 g = t0 + t, b = g / image_tiles, ty = g % image_tiles / tiles_w;
      const u32 tx = g % tiles_w;
      const float *img = dy + b * out_h * out_w * out_c;
      const int y = (int)(2 * ty) - 1, x = (int)(2 * tx) - 1;
      for (u32 co = 0; co < co4; co += 4) {
        const u32 n = lanes(out_c, co);
#define E_ROW(r)                                                                      \
  const v128_t e##r##0 = pixel_lanes(img, y + r, x, out_h, out_w, out_c, co, n);     \
  const v128_t e##r##1 = pixel_lanes(img, y + r, x + 1, out_h, out_w, out_c, co, n); \
  const v128_t e##r##2 = pixel_lanes(img, y + r, x + 2, out_h, out_w, out_c, co, n)
        E_ROW(0);
        E_ROW(1);
        E_ROW(2);
#undef E_ROW
        v128_t r00, r10, r20, r30, r40, r01, r11, r21, r31, r41, r02, r12, r22, r32, r42;
        S2_BT(r00, r10, r20, r30, r40, e00, e10, e20);
        S2_BT(r01, r11, r21, r31, r41, e01, e11, e21);
        S2_BT(r02, r12, r22, r32, r42, e02, e12, e22);
        v128_t d00, d01, d02, d03, d04, d10, d11, d12, d13, d14, d20, d21, d22, d23, d24;
        v128_t d30, d31, d32, d33, d34, d40, d41, d42, d43, d44;
        S2_BT(d00, d01, d02, d03, d04, r00, r01, r02);
        S2_BT(d10, d11, d12, d13, d14, r10, r11, r12);
        S2_BT(d20, d21, d22, d23, d24, r20, r21, r22);
        S2_BT(d30, d31, d32, d33, d34, r30, r31, r32);
        S2_BT(d40, d41, d42, d43, d44, r40, r41, r42);
        S2_TILE_STORE(v + t * co4 + co, v_point);
      }
    }
    /* u for `chunk` input channels at a time (once, when all fit), then their products. */
    for (u32 j0 = 0; j0 < ci8; j0 += chunk) {
      const u32 cw = ci8 - j0 < chunk ? ci8 - j0 : chunk;
      if (chunk < ci8 || t0 == 0) {
        for (u32 ci = j0; ci < j0 + cw; ci += 4) {
          const u32 n = lanes(in_c, ci);
          for (u32 co = 0; co < out_c; co++) {
#define W_TAP(kh, kw) channel_lanes(w + (((kh) * 3 + (kw)) * in_c + ci) * out_c + co, out_c, n)
            const v128_t w00 = W_TAP(0, 0), w01 = W_TAP(0, 1), w02 = W_TAP(0, 2);
            const v128_t w10 = W_TAP(1, 0), w11 = W_TAP(1, 1), w12 = W_TAP(1, 2);
            const v128_t w20 = W_TAP(2, 0), w21 = W_TAP(2, 1), w22 = W_TAP(2, 2);
#undef W_TAP
            v128_t r00, r10, r20, r30, r40, r01, r11, r21, r31, r41, r02, r12, r22, r32, r42;
            S2_G(r00, r10, r20, r30, r40, w00, w10, w20);
            S2_G(r01, r11, r21, r31, r41, w01, w11, w21);
            S2_G(r02, r12, r22, r32, r42, w02, w12, w22);
            v128_t d00, d01, d02, d03, d04, d10, d11, d12, d13, d14, d20, d21, d22, d23, d24;
            v128_t d30, d31, d32, d33, d34, d40, d41, d42, d43, d44;
            S2_G(d00, d01, d02, d03, d04, r00, r01, r02);
            S2_G(d10, d11, d12, d13, d14, r10, r11, r12);
            S2_G(d20, d21, d22, d23, d24, r20, r21, r22);
            S2_G(d30, d31, d32, d33, d34, r30, r31, r32);
            S2_G(d40, d41, d42, d43, d44, r40, r41, r42);
            S2_TILE_STORE(u + ((ci - j0) / 8 * out_c + co) * 8 + ci % 8, u_point);
          }
        }
      }
      wg_products(v, u, m + j0, 25, rows, out_c, co4, cw, ci8, v_point, u_point, m_point);
    }
    /* dx's 4x4 tile at padded rows 4 ty.., columns 4 tx..: the outputs of the points. */
    for (u32 t = 0; t < rows; t++) {
      const u32 g = t0 + t, b = g / image_tiles, ty = g % image_tiles / tiles_w;
      const u32 tx = g % tiles_w;
      float *img = dx + b * in_h * in_w * in_c;
      const int y = (int)(4 * ty) - (int)pad_top, x = (int)(4 * tx) - (int)pad_left;
      for (u32 ci = 0; ci < in_c; ci += 4) {
        const u32 n = lanes(in_c, ci);
        S2_TILE_LOAD(m + t * ci8 + ci, m_point);
        v128_t s00, s10, s20, s30, s01, s11, s21, s31, s02, s12, s22, s32;
        v128_t s03, s13, s23, s33, s04, s14, s24, s34;
        S2_AT(s00, s10, s20, s30, d00, d10, d20, d30, d40);
        S2_AT(s01, s11, s21, s31, d01, d11, d21, d31, d41);
        S2_AT(s02, s12, s22, s32, d02, d12, d22, d32, d42);
        S2_AT(s03, s13, s23, s33, d03, d13, d23, d33, d43);
        S2_AT(s04, s14, s24, s34, d04, d14, d24, d34, d44);
#define DX_ROW(r)                                                                 \
  if (y + r >= 0 && (u32)(y + r) < in_h) {                                        \
    v128_t o0, o1, o2, o3;                                                        \
    S2_AT(o0, o1, o2, o3, s##r##0, s##r##1, s##r##2, s##r##3, s##r##4);            \
    float *q_ = img + (u32)(y + r) * in_w * in_c + ci;                            \
    if (x >= 0 && (u32)x < in_w) store_lanes(q_ + (u32)x * in_c, o0, n);           \
    if (x + 1 >= 0 && (u32)(x + 1) < in_w) store_lanes(q_ + (u32)(x + 1) * in_c, o1, n); \
    if (x + 2 >= 0 && (u32)(x + 2) < in_w) store_lanes(q_ + (u32)(x + 2) * in_c, o2, n); \
    if (x + 3 >= 0 && (u32)(x + 3) < in_w) store_lanes(q_ + (u32)(x + 3) * in_c, o3, n); \
  }
        DX_ROW(0) DX_ROW(1) DX_ROW(2) DX_ROW(3)
#undef DX_ROW
      }
    }
  }
}

EXPORT(bnn_winograd_s2_filter_grad)
void bnn_winograd_s2_filter_grad(const float *x, const float *dy, float *dw, float *xh,
                                 float *dh, float *m, u32 batch, u32 in_h, u32 in_w, u32 in_c,
                                 u32 out_h, u32 out_w, u32 out_c, u32 pad_top, u32 pad_left,
                                 u32 block, u32 chunk, u32 out_chunk) {
  const u32 ci4 = round4(in_c), co8 = round8(out_c);
  const u32 tiles_h = (out_h + 1) / 2, tiles_w = (out_w + 1) / 2;
  const u64 tiles = count4(batch, tiles_h, tiles_w, 1);
  WG_FILTER_GRAD_REQUIRE(25);
  /* Every channel pair's sums at once (over blocks of tiles), or chunks of them (one block). */
  const u32 width = out_chunk < co8 ? out_chunk : co8, whole = chunk >= ci4 && width >= co8;
  const u32 image_tiles = tiles_h * tiles_w;
  for (u32 t0 = 0; t0 < (u32)tiles; t0 += block) {
    const u32 rows = (u32)tiles - t0 < block ? (u32)tiles - t0 : block;
    for (u32 t = 0; t < rows; t++) {
      const u32 g = t0 + t, b = g / image_tiles, ty = g % image_tiles / tiles_w;
      const u32 tx = g % tiles_w;
      /* xh[xi][ci / 4][t][ci % 4]: the transform of the 5x5 tile of x under dy's 2x2 tile t. */
      const float *img = x + b * in_h * in_w * in_c;
      const int y = (int)(4 * ty) - (int)pad_top, xc = (int)(4 * tx) - (int)pad_left;
      for (u32 ci = 0; ci < ci4; ci += 4) {
        const u32 n = lanes(in_c, ci);
#define E_ROW(r)                                                                      \
  const v128_t e##r##0 = pixel_lanes(img, y + r, xc, in_h, in_w, in_c, ci, n);       \
  const v128_t e##r##1 = pixel_lanes(img, y + r, xc + 1, in_h, in_w, in_c, ci, n);   \
  const v128_t e##r##2 = pixel_lanes(img, y + r, xc + 2, in_h, in_w, in_c, ci, n);   \
  const v128_t e##r##3 = pixel_lanes(img, y + r, xc + 3, in_h, in_w, in_c, ci, n);   \
  const v128_t e##r##4 = pixel_lanes(img, y + r, xc + 4, in_h, in_w, in_c, ci, n)
        E_ROW(0);
        E_ROW(1);
        E_ROW(2);
        E_ROW(3);
        E_ROW(4);
#undef E_ROW
        v128_t r00, r10, r20, r30, r40, r01, r11, r21, r31, r41, r02, r12, r22, r32, r42;
        v128_t r03, r13, r23, r33, r43, r04, r14, r24, r34, r44;
        S2_XT(r00, r10, r20, r30, r40, e00, e10, e20, e30, e40);
        S2_XT(r01, r11, r21, r31, r41, e01, e11, e21, e31, e41);
        S2_XT(r02, r12, r22, r32, r42, e02, e12, e22, e32, e42);
        S2_XT(r03, r13, r23, r33, r43, e03, e13, e23, e33, e43);
        S2_XT(r04, r14, r24, r34, r44, e04, e14, e24, e34, e44);
        v128_t d00, d01, d02, d03, d04, d10, d11, d12, d13, d14, d20, d21, d22, d23, d24;
        v128_t d30, d31, d32, d33, d34, d40, d41, d42, d43, d44;
        S2_XT(d00, d01, d02, d03, d04, r00, r01, r02, r03, r04);
        S2_XT(d10, d11, d12, d13, d14, r10, r11, r12, r13, r14);
        S2_XT(d20, d21, d22, d23, d24, r20, r21, r22, r23, r24);
        S2_XT(d30, d31, d32, d33, d34, r30, r31, r32, r33, r34);
        S2_XT(d40, d41, d42, d43, d44, r40, r41, r42, r43, r44);
        S2_TILE_STORE(xh + (ci / 4 * block + t) * 4, block * ci4 + WG_SKEW);
      }
      /* dh[xi][co / 8][t][co % 8]: the transform of dy's 2x2 tile t. */
      const float *gimg = dy + b * out_h * out_w * out_c;
      const int gy = (int)(2 * ty), gx = (int)(2 * tx);
      for (u32 co = 0; co < co8; co += 4) {
        const u32 n = lanes(out_c, co);
        const v128_t e00 = pixel_lanes(gimg, gy, gx, out_h, out_w, out_c, co, n);
        const v128_t e01 = pixel_lanes(gimg, gy, gx + 1, out_h, out_w, out_c, co, n);
        const v128_t e10 = pixel_lanes(gimg, gy + 1, gx, out_h, out_w, out_c, co, n);
        const v128_t e11 = pixel_lanes(gimg, gy + 1, gx + 1, out_h, out_w, out_c, co, n);
        v128_t r00, r10, r20, r30, r40, r01, r11, r21, r31, r41;
        S2_DT(r00, r10, r20, r30, r40, e00, e10);
        S2_DT(r01, r11, r21, r31, r41, e01, e11);
        v128_t d00, d01, d02, d03, d04, d10, d11, d12, d13, d14, d20, d21, d22, d23, d24;
        v128_t d30, d31, d32, d33, d34, d40, d41, d42, d43, d44;
        S2_DT(d00, d01, d02, d03, d04, r00, r01);
        S2_DT(d10, d11, d12, d13, d14, r10, r11);
        S2_DT(d20, d21, d22, d23, d24, r20, r21);
        S2_DT(d30, d31, d32, d33, d34, r30, r31);
        S2_DT(d40, d41, d42, d43, d44, r40, r41);
        S2_TILE_STORE(dh + (co / 8 * block + t) * 8 + co % 8, block * co8 + WG_SKEW);
      }
    }
    if (whole) wg_accumulate(xh, dh, m, 25, rows, block, ci4, 0, ci4, ci4, co8, 0, co8, t0 == 0);
  }
  /*
   * The taps, `chunk` input channels by `width` output channels at a time. Chunks smaller than
   * all channels need all tiles in one block: their points' sums, then their taps, so that m
   * stays in cache instead of holding every channel pair's points; chunking both axes reads xh
   * and dh a few times each, not dh once per chunk of 4 input channels.
   */
  for (u32 c0 = 0; c0 < ci4; c0 += chunk) {
    const u32 c1 = ci4 - c0 < chunk ? ci4 : c0 + chunk;
    for (u32 co0 = 0; co0 < co8; co0 += width) {
      const u32 co1 = co8 - co0 < width ? co8 : co0 + width;
      if (!whole)
        wg_accumulate(xh, dh, m, 25, (u32)tiles, block, ci4, c0, c1, chunk, co8, co0, co1, 1);
      /* dw[kh, kw, ci, co]: the taps of the summed points, along kh, then kw. */
      for (u32 ci = c0; ci < c1 && ci < in_c; ci++) {
        for (u32 co = co0; co < co1 && co < out_c; co += 4) {
          const u32 n = lanes(out_c, co);
          S2_TILE_LOAD(m + (ci - c0) * (co1 - co0) + co - co0, chunk * (co1 - co0) + WG_SKEW);
          v128_t s00, s10, s20, s01, s11, s21, s02, s12, s22, s03, s13, s23, s04, s14, s24;
          S2_FT(s00, s10, s20, d00, d10, d20, d30, d40);
          S2_FT(s01, s11, s21, d01, d11, d21, d31, d41);
          S2_FT(s02, s12, s22, d02, d12, d22, d32, d42);
          S2_FT(s03, s13, s23, d03, d13, d23, d33, d43);
          S2_FT(s04, s14, s24, d04, d14, d24, d34, d44);
          float *p = dw + ci * out_c + co;
          const u32 tap = in_c * out_c;
          v128_t o0, o1, o2;
          S2_FT(o0, o1, o2, s00, s01, s02, s03, s04);
          store_lanes(p, o0, n), store_lanes(p + tap, o1, n), store_lanes(p + 2 * tap, o2, n);
          S2_FT(o0, o1, o2, s10, s11, s12, s13, s14);
          store_lanes(p + 3 * tap, o0, n), store_lanes(p + 4 * tap, o1, n);
          store_lanes(p + 5 * tap, o2, n);
          S2_FT(o0, o1, o2, s20, s21, s22, s23, s24);
          store_lanes(p + 6 * tap, o0, n), store_lanes(p + 7 * tap, o1, n);
          store_lanes(p + 8 * tap, o2, n);
        }
      }
    }
  }
}

/*
 * For the benchmark (test/bench/train.ts), not for training: `iterations` rounds of
 * acc = acc * m + c on 12 independent f32x4 accumulators, 96 floating-point operations per
 * round, no memory access, by MADD as the convolutions multiply-add. Its rate is the practical
 * peak of this build (SIMD128: a multiply then an add; relaxed SIMD: fused where the CPU has it;
 * 4 lanes) on the machine the bench runs on, against which the bench sets the convolution
 * kernels' rates.
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
#define STEP(a) a = MADD(a, vm, vc)
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
