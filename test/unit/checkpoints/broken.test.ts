/** Broken and hostile files: each gives one FileFormatError that names the file and the problem. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FileFormatError, UserError } from '../../../core/errors';
import { inspectCheckpoint } from '../../../core/checkpoints/inspect';
import { setHdf5TimeoutMs } from '../../../core/checkpoints/keras';
import { PyDict, unpickle } from '../../../core/checkpoints/pickle';
import { fixture } from './helpers';

const CASES: [file: string, problem: RegExp][] = [
  ['broken/truncated.pt', /truncated/],
  ['broken/legacy.pt', /legacy \(pre-1\.6.*_use_new_zipfile_serialization=True/],
  ['broken/missing_storage.pt', /storage record ".*data\/0" is missing/],
  ['broken/compressed.pt', /compressed/],
  ['broken/os_system.pt', /refused to load the Python global "os\.system".*never runs code/],
  ['broken/builtins_eval.pt', /refused to load the Python global "builtins\.eval"/],
  ['broken/wrong_magic.safetensors', /safetensors header says \d+ bytes/],
  ['broken/header_too_long.safetensors', /header says \d+ bytes of JSON but the file has only \d+/],
  ['broken/shape_mismatch.safetensors', /shape \[4, 4\].*but 288 bytes/],
  ['broken/offsets_past_end.safetensors', /data_offsets \[0, 10000\] lie outside/],
  ['broken/truncated.safetensors', /outside the \d+-byte data buffer/],
  ['broken/no_weights.h5', /holds no Keras weights/],
  ['broken/truncated.h5', /HDF5 could not read the file \(truncated file/],
  ['broken/tfjs_short/model.json', /runs past the end of its shards/],
  ['broken/truncated.onnx', /ONNX protobuf: field \d+ at byte \d+ runs past its message/],
  // HDF5 loops forever on this one; the watchdog stops the h5 worker.
  ['broken/hdf5_loop.h5', /HDF5 did not finish reading the file within \d+ s; the file is corrupt/],
];

// A hang guard, not a speed check: the looping file is stopped after this long.
setHdf5TimeoutMs(5_000);

describe('broken checkpoint files', () => {
  for (const [file, problem] of CASES) {
    it(`${file}: one clear FileFormatError`, async () => {
      const path = fixture(file);
      await assert.rejects(inspectCheckpoint(path), (error: unknown) => {
        assert.ok(error instanceof FileFormatError, `FileFormatError, got ${String(error)}`);
        assert.equal(error.file, path);
        assert.ok(error.message.startsWith(`${path}: `), error.message);
        assert.match(error.message, problem);
        assert.ok(!error.message.includes('\n'), 'one line');
        return true;
      });
    });
  }

  it('the h5 worker keeps working after it was stopped on a looping file', async () => {
    const report = await inspectCheckpoint(fixture('larq_keras2.h5'));
    assert.equal(report.format, 'keras-h5');
    assert.ok(report.layers.every((l) => l.stats === null || l.stats.params > 0));
  });

  it('a missing file is a UserError naming it', async () => {
    const path = fixture('nope.pt');
    await assert.rejects(inspectCheckpoint(path), (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.match((error as Error).message, /nope\.pt: cannot open/);
      return true;
    });
  });
});

/** Pickle bytes from opcodes, for hand-made payloads. */
function pickle(...parts: (string | number[])[]): Uint8Array {
  const bytes: number[] = [];
  for (const part of parts) {
    if (typeof part === 'string') for (const c of part) bytes.push(c.charCodeAt(0));
    else bytes.push(...part);
  }
  return new Uint8Array(bytes);
}

describe('allow-listed unpickler', () => {
  const globals = new Map([['collections.OrderedDict', () => new PyDict()]]);

  it('refuses os.system before calling anything, naming it', () => {
    let called = false;
    const table = new Map<string, ((args: unknown[]) => unknown) | null>(globals);
    table.set('os.system_', () => (called = true));
    const payload = pickle([0x80, 2], 'cos\nsystem\n', 'X', [2, 0, 0, 0], 'ls', [0x85], 'R.');
    assert.throws(
      () => unpickle(payload, { file: 'evil.pt', globals: table }),
      (e: unknown) => e instanceof FileFormatError && /"os\.system"/.test(e.message),
    );
    assert.equal(called, false);
  });

  it('refuses STACK_GLOBAL builtins.eval and torch.storage._load_from_bytes', () => {
    for (const [module, name] of [
      ['builtins', 'eval'],
      ['torch.storage', '_load_from_bytes'],
    ]) {
      const payload = pickle(
        [0x80, 4, 0x8c, module.length],
        module,
        [0x8c, name.length],
        name,
        [0x93],
        '.',
      );
      assert.throws(
        () => unpickle(payload, { file: 'evil.pt', globals }),
        (e: unknown) => e instanceof FileFormatError && e.message.includes(`"${module}.${name}"`),
      );
    }
  });

  it('parses an OrderedDict with ints, floats, strings and nested tuples', () => {
    // OrderedDict() then SETITEMS {'a': 1, 'b': (2.5, 'x')}
    const float = new Uint8Array(new Float64Array([2.5]).buffer).reverse();
    const payload = pickle(
      [0x80, 2],
      'ccollections\nOrderedDict\n',
      ')R(',
      [0x8c, 1],
      'a',
      'K',
      [1],
      [0x8c, 1],
      'b',
      'G',
      Array.from(float),
      [0x8c, 1],
      'x',
      [0x86],
      'u.',
    );
    const result = unpickle(payload, { file: 'ok.pt', globals });
    assert.ok(result instanceof PyDict);
    assert.equal(result.map.get('a'), 1);
    const tuple = result.map.get('b') as { items: unknown[] };
    assert.deepEqual(tuple.items, [2.5, 'x']);
  });

  it('rejects truncated data, unknown opcodes and stack underflow with FileFormatError', () => {
    for (const payload of [
      pickle([0x80, 2], 'X', [100, 0, 0, 0], 'ab'),
      pickle([0x80, 2, 0xff]),
      pickle([0x80, 2], 's'),
      pickle([0x80, 2], ')'),
    ]) {
      assert.throws(
        () => unpickle(payload, { file: 'bad.pt', globals }),
        (e: unknown) => e instanceof FileFormatError,
      );
    }
  });
});
