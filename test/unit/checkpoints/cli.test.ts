/** bnn-lab inspect / compare / series: exit codes, JSON shapes, aligned tables. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../cli/helpers';
import { EXPECTED, fixture } from './helpers';

/** `bnn-lab COMMAND ARGS`: the exit code, stdout's lines and stderr's lines. */
async function capture(
  command: 'inspect' | 'compare' | 'series',
  args: string[],
): Promise<{ code: number; lines: string[]; errors: string[] }> {
  const { code, stdout, stderr } = await runCli([command, ...args]);
  const lines = (text: string) => (text === '' ? [] : text.replace(/\n$/, '').split('\n'));
  return { code, lines: lines(stdout), errors: lines(stderr) };
}

describe('inspect CLI', () => {
  it('inspect --json prints the report of docs/metrics.md', async () => {
    const { code, lines } = await capture('inspect', [fixture('larq_keras2.h5'), '--json']);
    assert.equal(code, 0);
    assert.equal(lines.length, 1);
    const report = JSON.parse(lines[0]);
    assert.equal(report.format, 'keras-h5');
    assert.deepEqual(Object.keys(report).sort(), ['format', 'layers', 'summary']);
    const kernel = report.layers.find((l: { name: string }) => l.name === 'quant_conv2d/kernel:0');
    assert.deepEqual(Object.keys(kernel).sort(), [
      'binary',
      'binaryReason',
      'dtype',
      'name',
      'shape',
      'stats',
    ]);
    assert.equal(kernel.binary, true);
    assert.match(kernel.binaryReason, /clip_value 1\.3/);
    assert.deepEqual(Object.keys(kernel.stats).sort(), [
      'absMean',
      'alpha',
      'deadWeightRatio',
      'histogram',
      'max',
      'mean',
      'min',
      'params',
      'quantizationError',
      'signBalance',
      'signEntropyBits',
      'starvedWeightRatio',
      'std',
    ]);
    assert.deepEqual(Object.keys(report.summary).sort(), [
      'binaryParams',
      'bytesFloat32',
      'bytesPacked',
      'compression',
      'params',
    ]);
    assert.equal(report.summary.params, EXPECTED.files['larq_keras2.h5'].summary.params);
  });

  it('inspect prints an aligned table and the summary', async () => {
    const { code, lines } = await capture('inspect', [fixture('torch_state.pt')]);
    assert.equal(code, 0);
    const header = lines.find((l) => l.startsWith('name'));
    assert.ok(header && /QE/.test(header) && /dead/.test(header) && /signBal/.test(header));
    const start = lines.indexOf(header);
    const rule = lines[start + 1];
    assert.match(rule, /^-+ {2}-+/);
    const row = lines.find((l) => l.startsWith('features.0.binary_conv.weight'));
    assert.ok(row && / yes /.test(row));
    // Columns line up: every row of the table has its 2nd column where the header has it.
    const col = header.indexOf('shape');
    for (const line of lines.slice(start + 2, start + 2 + 10)) assert.equal(line[col - 1], ' ');
    assert.ok(lines.some((l) => /^params \d+, binary \d+/.test(l)));
    assert.ok(
      lines.some((l) => /binaryPatterns/.test(l)),
      'explains the "?" marks',
    );
  });

  it('--tau changes deadWeightRatio; bad --tau and bad usage exit 2', async () => {
    const loose = JSON.parse(
      (await capture('inspect', [fixture('tfjs'), '--json', '--tau', '0.6'])).lines[0],
    );
    const strict = JSON.parse((await capture('inspect', [fixture('tfjs'), '--json'])).lines[0]);
    assert.ok(loose.layers[0].stats.deadWeightRatio > strict.layers[0].stats.deadWeightRatio);
    assert.equal((await capture('inspect', [fixture('tfjs'), '--tau', '2'])).code, 2);
    assert.equal((await capture('inspect', [])).code, 2);
    assert.equal((await capture('inspect', ['a', 'b'])).code, 2);
    assert.equal((await capture('inspect', ['x', '--frobnicate'])).code, 2);
  });

  it('--binary-pattern marks tensors by name; an invalid pattern is a one-line error', async () => {
    const { lines } = await capture('inspect', [
      fixture('torch_state.pt'),
      '--json',
      '--binary-pattern',
      '^shared\\.',
      '--binary-pattern=classifier',
    ]);
    const report = JSON.parse(lines[0]);
    const binary = report.layers
      .filter((l: { binary: boolean | null }) => l.binary === true)
      .map((l: { name: string }) => l.name);
    assert.deepEqual(binary.sort(), ['classifier.weight', 'shared.big', 'shared.offset']);
    const bad = await capture('inspect', [fixture('torch_state.pt'), '--binary-pattern', '(']);
    assert.equal(bad.code, 1);
    assert.deepEqual(bad.lines, []);
    assert.equal(bad.errors.length, 1);
    assert.match(bad.errors[0], /not a valid regular expression/);
  });

  it('a broken file exits 1 with one error line naming it', async () => {
    const path = fixture('broken', 'os_system.pt');
    const { code, lines, errors } = await capture('inspect', [path]);
    assert.equal(code, 1);
    assert.deepEqual(lines, []);
    assert.equal(errors.length, 1);
    assert.ok(errors[0].startsWith(`bnn-lab inspect: ${path}: refused`), errors[0]);
  });

  it('compare --json and table', async () => {
    const a = fixture('series', 'epoch-1');
    const b = fixture('series', 'epoch-2');
    const json = await capture('compare', [a, b, '--json']);
    assert.equal(json.code, 0);
    const report = JSON.parse(json.lines[0]);
    assert.deepEqual(Object.keys(report), ['layers']);
    assert.deepEqual(Object.keys(report.layers[0]).sort(), ['binary', 'flipRate', 'name']);
    // `binary` as the inspector marks the tensor (the BNN Lab model.json records it).
    assert.deepEqual(
      report.layers.map((l: { name: string; binary: boolean | null }) => [l.name, l.binary]),
      [
        ['binary_conv/kernel', true],
        ['dense/kernel', false],
      ],
    );
    const table = await capture('compare', [a, b]);
    assert.ok(table.lines.some((l) => /^binary_conv\/kernel\s+\d\.\d{4}$/.test(l)));
    assert.equal((await capture('compare', [a])).code, 2);
  });

  it('series --json and table', async () => {
    const json = await capture('series', [fixture('series'), '--json']);
    assert.equal(json.code, 0);
    const series = JSON.parse(json.lines[0]);
    assert.deepEqual(Object.keys(series).sort(), ['checkpoints', 'frozenRatio', 'pairs']);
    const table = await capture('series', [fixture('series')]);
    assert.ok(table.lines.some((l) => l.includes('epoch-2→epoch-10')));
    assert.ok(table.lines.some((l) => /^epoch-10\s+tfjs/.test(l)));
    const empty = await capture('series', [fixture('broken', 'tfjs_short')]);
    assert.equal(empty.code, 1);
  });
});
