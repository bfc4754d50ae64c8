/** dtype decoding: half/bfloat16 bit patterns, chunked reads, strided element readers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memorySource } from '../../../core/checkpoints/byteSource';
import {
  bfloat16ToNumber,
  elementReader,
  halfToNumber,
  readDecoded,
} from '../../../core/checkpoints/model';
import { FileFormatError } from '../../../core/errors';

describe('dtype decoding', () => {
  it('decodes float16 bit patterns, including subnormals, infinities and NaN', () => {
    assert.equal(halfToNumber(0x3c00), 1);
    assert.equal(halfToNumber(0xc000), -2);
    assert.equal(halfToNumber(0x3555), 0.333251953125);
    assert.equal(halfToNumber(0x0001), 2 ** -24);
    assert.equal(halfToNumber(0x7bff), 65504);
    assert.equal(halfToNumber(0x7c00), Infinity);
    assert.equal(halfToNumber(0xfc00), -Infinity);
    assert.ok(Number.isNaN(halfToNumber(0x7e00)));
    assert.ok(Object.is(halfToNumber(0x8000), -0));
  });

  it('decodes bfloat16 as the upper half of a float32', () => {
    assert.equal(bfloat16ToNumber(0x3f80), 1);
    assert.equal(bfloat16ToNumber(0xc040), -3);
    assert.equal(bfloat16ToNumber(0x3e20), 0.15625);
  });

  it('readDecoded gives the same values whatever the chunk size', async () => {
    const halves = new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff, 0x3800, 0xb800]);
    const source = memorySource(new Uint8Array(halves.buffer), 'mem');
    const whole = new Float32Array(7);
    await readDecoded(source, 0, 'float16', 7, whole, 'whole');
    for (const chunk of [1, 2, 3, 6]) {
      const out = new Float32Array(8);
      await readDecoded(source, 0, 'float16', 7, out, 'chunked', 1, chunk);
      assert.deepEqual(Array.from(out.subarray(1)), Array.from(whole), `chunk ${chunk}`);
    }
    await assert.rejects(
      readDecoded(source, 4, 'float16', 7, new Float32Array(7), 'past the end'),
      FileFormatError,
    );
  });

  it('elementReader reads little-endian elements at byte offsets', () => {
    const bytes = new Uint8Array(16);
    const view = new DataView(bytes.buffer);
    view.setFloat32(4, -1.5, true);
    view.setBigInt64(8, -7n, true);
    assert.equal(elementReader('float32')(view, 4), -1.5);
    assert.equal(elementReader('int64')(view, 8), -7);
    assert.equal(elementReader('bfloat16')(view, 6), -1.5);
  });
});
