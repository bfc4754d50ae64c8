/** `bnnLab.inspect.binaryPatterns` and `bnnLab.metrics.deadTau` → the core's options. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  analysisSettings,
  parseBinaryPatterns,
  parseDeadTau,
  patternForTensor,
  withPattern,
} from '../../../extension/inspector/settings';

test('an empty or missing pattern list means the built-in patterns', () => {
  assert.deepEqual(parseBinaryPatterns([]), { patterns: undefined, problems: [] });
  assert.deepEqual(parseBinaryPatterns(undefined), { patterns: undefined, problems: [] });
  assert.deepEqual(analysisSettings({ binaryPatterns: [], deadTau: 0.99 }).options, {
    deadTau: 0.99,
  });
});

test('valid patterns pass through in order, without duplicates', () => {
  const parsed = parseBinaryPatterns(['binary_conv', '^layer[1-4]\\..*conv', 'binary_conv']);
  assert.deepEqual(parsed, { patterns: ['binary_conv', '^layer[1-4]\\..*conv'], problems: [] });
  assert.deepEqual(analysisSettings({ binaryPatterns: ['bconv'], deadTau: 0.95 }).options, {
    binaryPatterns: ['bconv'],
    deadTau: 0.95,
  });
});

test('bad entries are dropped with a problem naming the entry', () => {
  const parsed = parseBinaryPatterns(['conv(', 42, '  ', 'ok']);
  assert.deepEqual(parsed.patterns, ['ok']);
  assert.equal(parsed.problems.length, 3);
  assert.match(
    parsed.problems[0],
    /binaryPatterns\[0\] "conv\(" is not a valid regular expression/,
  );
  assert.match(parsed.problems[1], /binaryPatterns\[1\] is a number/);
  assert.match(parsed.problems[2], /binaryPatterns\[2\] is blank/);
});

test('only bad entries, or not an array: built-in patterns and a problem', () => {
  const onlyBad = parseBinaryPatterns(['[']);
  assert.equal(onlyBad.patterns, undefined);
  assert.match(onlyBad.problems.at(-1) ?? '', /using the built-in patterns/);
  const notArray = parseBinaryPatterns('binary_conv');
  assert.equal(notArray.patterns, undefined);
  assert.match(notArray.problems[0], /must be an array/);
});

test('deadTau must lie in (0.5, 1)', () => {
  assert.deepEqual(parseDeadTau(0.9), { deadTau: 0.9 });
  assert.deepEqual(parseDeadTau(undefined), { deadTau: 0.99 });
  for (const bad of [0.5, 1, 2, '0.9', Number.NaN]) {
    const parsed = parseDeadTau(bad);
    assert.equal(parsed.deadTau, 0.99);
    assert.match(parsed.problem ?? '', /must be a number in \(0\.5, 1\)/);
  }
  const all = analysisSettings({ binaryPatterns: ['('], deadTau: 3 });
  assert.equal(all.deadTau, 0.99);
  assert.equal(all.problems.length, 3);
});

test('Mark as Binary: an exact pattern for the tensor, added after the built-in ones', () => {
  const pattern = patternForTensor('layer1.0.conv1.weight');
  assert.equal(pattern, '^layer1\\.0\\.conv1\\.weight$');
  const re = new RegExp(pattern, 'i');
  assert.ok(re.test('layer1.0.conv1.weight'));
  assert.ok(!re.test('layer1.0.conv10.weight'));
  assert.ok(!re.test('xlayer1.0.conv1.weight'));
  assert.equal(patternForTensor('a/b(c)[0]+'), '^a\\/b\\(c\\)\\[0\\]\\+$');
  assert.deepEqual(withPattern([], 'x', ['a', 'b']), ['a', 'b', 'x']);
  assert.deepEqual(withPattern(undefined, 'x', ['a']), ['a', 'x']);
  assert.deepEqual(withPattern(['mine'], 'x', ['a']), ['mine', 'x']);
  assert.deepEqual(withPattern(['mine', 'x'], 'x', ['a']), ['mine', 'x']);
});
