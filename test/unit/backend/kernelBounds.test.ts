/**
 * The C kernels' bounds guard (core/kernels/bnn_kernels.c): sizes whose 32-bit products would
 * wrap, buffers that end past the linear memory and convolution windows past their input trap
 * ("unreachable") before any byte is written, instead of wrapping into other tensors.
 * The module is instantiated here on a small memory of its own, without tfjs; every test runs on
 * both builds (bnn-kernels.wasm and the relaxed-SIMD bnn-kernels-relaxed.wasm).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';

const PAGES = 4; // 256 KiB
const memory = new WebAssembly.Memory({ initial: PAGES, maximum: PAGES });
type Fn = (...args: number[]) => number;
// Node 20 accepts relaxed SIMD behind this flag (as bnnKernels.ts turns it on).
setFlagsFromString('--experimental-wasm-relaxed-simd');
const builds = ['bnn-kernels.wasm', 'bnn-kernels-relaxed.wasm'].map((file) => {
  const wasm = readFileSync(join(__dirname, '../../../../core/kernels', file));
  const exports = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env: { memory } })
    .exports as Record<string, Fn>;
  return { file, exports };
});
/** `test` once per build of the kernels, given that build's exports. */
function moduleTest(name: string, body: (kernels: Record<string, Fn>) => void): void {
  for (const build of builds) test(`${build.file}: ${name}`, () => body(build.exports));
}
const bytes = new Uint8Array(memory.buffer);

/** Runs `call` on a memory filled with 0x55 and says whether it trapped and what changed. */
function run(call: () => void): { trapped: boolean; changed: boolean } {
  bytes.fill(0x55);
  let trapped = false;
  try {
    call();
  } catch (e) {
    assert.ok(e instanceof WebAssembly.RuntimeError, String(e));
    assert.match((e as Error).message, /unreachable/);
    trapped = true;
  }
  return { trapped, changed: bytes.some((b) => b !== 0x55) };
}

moduleTest('element-wise kernels: a count past the memory traps and writes nothing', (kernels) => {
  const size = PAGES * 65536;
  // 1024 values in place: fine.
  assert.deepEqual(
    run(() => kernels.bnn_sign(0, 4096, 1024)),
    { trapped: false, changed: true },
  );
  // 2^30 + 16 values: the byte count (× 4) wraps a 32-bit product to 64 bytes.
  assert.deepEqual(
    run(() => kernels.bnn_sign(0, 4096, 2 ** 30 + 16)),
    { trapped: true, changed: false },
  );
  // Ends one value past the memory.
  assert.deepEqual(
    run(() => kernels.bnn_ste_grad(0, 0, size - 4 * 1023, 1024, 1)),
    { trapped: true, changed: false },
  );
  assert.deepEqual(
    run(() =>
      kernels.bnn_adam(
        0,
        0,
        0,
        0,
        0,
        0,
        size - 64,
        17,
        0.9,
        0.1,
        0.999,
        0.001,
        0.9,
        0.999,
        -0.01,
        1e-7,
      ),
    ),
    { trapped: true, changed: false },
  );
});

moduleTest(
  'convolutions: a batch whose tensor sizes wrap, or windows past the input, trap first',
  (kernels) => {
    // batch 2, 6×6×1 input, 3×3 filter, 4×4×8 output: fits.
    const ok = [0, 2048, 4096, 2, 6, 6, 1, 4, 4, 8, 3, 3, 1, 1, 1, 1];
    assert.deepEqual(
      run(() => kernels.bnn_conv2d_forward(...ok)),
      { trapped: false, changed: true },
    );
    // batch 2^26: x alone would be 2^26 × 36 × 4 bytes; as 32-bit products it wraps to a
    // small, harmless-looking size.
    const huge = [...ok];
    huge[3] = 2 ** 26;
    for (const name of ['bnn_conv2d_forward', 'bnn_conv2d_filter_grad', 'bnn_conv2d_input_grad']) {
      assert.deepEqual(
        run(() => kernels[name](...huge)),
        { trapped: true, changed: false },
        name,
      );
    }
    // An output of 5×5 from a 6×6 input with a 3×3 window reads past the input.
    const past = [...ok];
    past[7] = 5;
    past[8] = 5;
    assert.deepEqual(
      run(() => kernels.bnn_conv2d_forward(...past)),
      { trapped: true, changed: false },
    );
  },
);

moduleTest('batch norm and pooling gradients: rows × channels past the memory trap', (kernels) => {
  assert.deepEqual(
    run(() => kernels.bnn_channel_sums(0, 2 ** 20, 2 ** 12, 8192, 4096)),
    { trapped: true, changed: false },
  );
  assert.deepEqual(
    run(() => kernels.bnn_bn_forward(0, 0, 0, 0, 0, 2 ** 16, 2 ** 16 + 1, 16384, 32768)),
    { trapped: true, changed: false },
  );
  assert.deepEqual(
    run(() => kernels.bnn_max_pool_grad(0, 0, 4096, 2 ** 20, 64, 64, 64, 32, 32, 2, 2, 2, 2, 0, 0)),
    { trapped: true, changed: false },
  );
  // Average pool: 2×8×8×4 → 2×4×4×4 fits (dy at 0, dx at 4096); a batch past the memory, or dx
  // ending one float past it, traps.
  const avgOk = [0, 4096, 2, 8, 8, 4, 4, 4, 2, 2, 2, 2, 0, 0];
  assert.deepEqual(
    run(() => kernels.bnn_avg_pool_grad(...avgOk)),
    {
      trapped: false,
      changed: true,
    },
  );
  const avgHuge = [...avgOk];
  avgHuge[2] = 2 ** 20;
  const avgPast = [...avgOk];
  avgPast[1] = PAGES * 65536 - 2 * 8 * 8 * 4 * 4 + 4;
  for (const args of [avgHuge, avgPast]) {
    assert.deepEqual(
      run(() => kernels.bnn_avg_pool_grad(...args)),
      {
        trapped: true,
        changed: false,
      },
    );
  }
});

moduleTest(
  "a DenseNet part's scale and its gradient: a row stride narrower than the part, or the last row past the memory, trap",
  (kernels) => {
    const size = PAGES * 65536;
    // 16 rows of a 4-channel part whose strided side has rows of 12 channels; that side's last
    // row ends (15 × 12 + 4) × 4 bytes after its start. [name, fitting arguments, index of the
    // row stride, index of the strided pointer]:
    // - bnn_scale_into: x at 0, gamma and beta at 1024/2048, y (strided) at 4096;
    // - bnn_scale_grad_part: dy (strided) at 0, x at 4096, gamma at 8192, acc at 8448, dx at
    //   12288, the sums at 16384/16400.
    const cases: [string, number[], number, number][] = [
      ['bnn_scale_into', [0, 1024, 2048, 16, 4, 4096, 12], 6, 5],
      ['bnn_scale_grad_part', [0, 12, 4096, 8192, 16, 4, 8448, 12288, 16384, 16400], 1, 0],
    ];
    for (const [name, ok, stride, strided] of cases) {
      assert.deepEqual(
        run(() => kernels[name](...ok)),
        { trapped: false, changed: true },
        name,
      );
      const narrow = [...ok];
      narrow[stride] = 3;
      const past = [...ok];
      past[strided] = size - (15 * 12 + 4) * 4 + 4;
      for (const args of [narrow, past]) {
        assert.deepEqual(
          run(() => kernels[name](...args)),
          { trapped: true, changed: false },
          name,
        );
      }
    }
  },
);

moduleTest(
  'bit-packed convolution: sizes that wrap, padding outside the input or windows past it trap',
  (kernels) => {
    // batch 2, 6×6×1 signs packed into 6×6 words, 3×3×1→8 filter, 4×4×8 output: fits.
    const ok = [0, 4096, 8192, 2, 6, 6, 1, 4, 4, 8, 3, 3, 1, 1, 1, 1, 6, 6, 0, 0];
    assert.deepEqual(
      run(() => kernels.bnn_conv2d_forward_xnor(...ok)),
      {
        trapped: false,
        changed: true,
      },
    );
    const huge = [...ok];
    huge[3] = 2 ** 26;
    assert.deepEqual(
      run(() => kernels.bnn_conv2d_forward_xnor(...huge)),
      {
        trapped: true,
        changed: false,
      },
    );
    // An output of 5×5 from a 6×6 padded input with a 3×3 window reads past it.
    const past = [...ok];
    past[7] = 5;
    past[8] = 5;
    assert.deepEqual(
      run(() => kernels.bnn_conv2d_forward_xnor(...past)),
      {
        trapped: true,
        changed: false,
      },
    );
    // The real input placed past the padded one (pad_top + in_h > pad_h).
    const outside = [...ok];
    outside[18] = 1;
    assert.deepEqual(
      run(() => kernels.bnn_conv2d_forward_xnor(...outside)),
      {
        trapped: true,
        changed: false,
      },
    );
    // Packing: a batch whose sizes wrap, and a word count that does not match the channels.
    assert.deepEqual(
      run(() => kernels.bnn_pack_signs(0, 8192, 2 ** 26, 6, 6, 1, 6, 6, 0, 0, 1)),
      {
        trapped: true,
        changed: false,
      },
    );
    assert.deepEqual(
      run(() => kernels.bnn_pack_signs(0, 8192, 2, 6, 6, 65, 6, 6, 0, 0, 1)),
      {
        trapped: true,
        changed: false,
      },
    );
    assert.deepEqual(
      run(() => kernels.bnn_pack_filter_signs(0, 8192, 3, 3, 2 ** 20, 2 ** 12, 2 ** 14)),
      {
        trapped: true,
        changed: false,
      },
    );
  },
);

moduleTest(
  'Winograd gradients: sizes that wrap, scratch past the memory or padding past 2 trap',
  (kernels) => {
    // batch 1, 4×4×16 → 4×4×16 ('same'), a block of 4 tiles: fits. Scratch buffers hold 16 (F(2x2,
    // 3x3)), 36 (F(4x4, 3x3)) or 25 (stride 2) points of a panel plus 16 floats of skew each: u, v, m of the input
    // gradient (16x16, 4x16, 4x16 floats a panel), xHat, dyHat, m of the filter gradient (4x16,
    // 4x16, 16x16); each buffer starts where the one before it ends.
    const at = (points: number, start: number, panels: number[]) => {
      const offsets = [start];
      for (const panel of panels)
        offsets.push(offsets[offsets.length - 1] + points * (panel + 16) * 4);
      return offsets.slice(0, 3);
    };
    // The last number: input channels per chunk (all 16: unchunked); the filter gradient's take
    // one more, output channels per chunk (all 16).
    const geometry = [1, 4, 4, 16, 4, 4, 16, 1, 1, 4, 16];
    // dy (or x) at 0, the filter (or dy) at 4096, dx at 16384 (dw at 8192); scratch from 20480.
    const inputOk = (points: number) => [
      0,
      4096,
      16384,
      ...at(points, 20480, [256, 64, 64]),
      ...geometry,
    ];
    const filterOk = (points: number) => [
      0,
      4096,
      8192,
      ...at(points, 20480, [64, 64, 256]),
      ...geometry,
      16,
    ];
    // The last scratch buffer's bytes: m of the input gradient (4x16 a panel), of the filter
    // gradient (16x16).
    const lastBytes = (points: number, panel: number) => points * (panel + 16) * 4;
    for (const [name, ok, last] of [
      ['bnn_winograd_input_grad', inputOk(16), lastBytes(16, 64)],
      ['bnn_winograd_filter_grad', filterOk(16), lastBytes(16, 256)],
      ['bnn_winograd4_input_grad', inputOk(36), lastBytes(36, 64)],
      ['bnn_winograd4_filter_grad', filterOk(36), lastBytes(36, 256)],
      ['bnn_winograd_s2_input_grad', inputOk(25), lastBytes(25, 64)],
      ['bnn_winograd_s2_filter_grad', filterOk(25), lastBytes(25, 256)],
    ] as const) {
      assert.deepEqual(
        run(() => kernels[name](...ok)),
        { trapped: false, changed: true },
        name,
      );
      // The last buffer ending at the memory's last byte fits; one float further does not.
      const atEnd = [...ok];
      atEnd[5] = PAGES * 65536 - last;
      assert.deepEqual(
        run(() => kernels[name](...atEnd)),
        { trapped: false, changed: true },
        name,
      );
      const pastEnd = [...ok];
      pastEnd[5] = atEnd[5] + 4;
      if (name.endsWith('filter_grad') && name !== 'bnn_winograd4_filter_grad') {
        // A filter gradient sums a chunk of channels over all tiles at once: one block only
        // (F(4x4) covers this 4x4 dy in one tile, F(2x2) and stride 2 in four).
        const split = [...ok];
        split[15] = 2; // 4 tiles in blocks of 2
        split[16] = 8;
        assert.deepEqual(
          run(() => kernels[name](...split)),
          { trapped: true, changed: false },
          `${name}: chunks with several blocks`,
        );
        const splitOut = [...ok];
        splitOut[15] = 2;
        splitOut[17] = 8; // all input channels, 8 of the 16 output channels
        assert.deepEqual(
          run(() => kernels[name](...splitOut)),
          { trapped: true, changed: false },
          `${name}: chunks of output channels with several blocks`,
        );
      }
      const outChunks: [string, number[]][] = [];
      if (name.endsWith('filter_grad')) {
        // Output channels per chunk: a whole number of 8-channel panels, and at least one.
        for (const [what, value] of [
          ['output chunk of 0', 0],
          ['output chunk of 4', 4],
        ] as const) {
          const args = [...ok];
          args[17] = value;
          outChunks.push([what, args]);
        }
        // Chunks of 8 by 8 channels of one block fit (m holds 8 x 8 floats a point).
        const square = [...ok];
        square[16] = 8;
        square[17] = 8;
        assert.deepEqual(
          run(() => kernels[name](...square)),
          { trapped: false, changed: true },
          `${name}: chunks of 8 by 8 channels`,
        );
      }
      const huge = [...ok];
      huge[6] = 2 ** 26; // a batch whose tensor sizes wrap 32-bit products
      const bigBlock = [...ok];
      bigBlock[15] = 2 ** 20; // scratch for 2^20 tiles ends past the memory
      const pad = [...ok];
      pad[13] = 3; // a 3×3 filter reaches at most 2 rows into the padding
      const noChunk = [...ok];
      noChunk[16] = 0;
      const oddChunk = [...ok];
      oddChunk[16] = 6; // not a whole panel of 8 (input) or vector of 4 (filter) channels
      for (const [what, args] of [
        ['huge batch', huge],
        ['block', bigBlock],
        ['padding', pad],
        ['chunk of 0', noChunk],
        ['chunk of 6', oddChunk],
        ['last scratch buffer one float past the memory', pastEnd],
        ...outChunks,
      ] as const) {
        assert.deepEqual(
          run(() => kernels[name](...args)),
          { trapped: true, changed: false },
          `${name}: ${what}`,
        );
      }
    }
  },
);
