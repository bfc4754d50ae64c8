/**
 * Errors speak the caller's language (issue 14 item 6): core raises one structured error (field,
 * value, what is allowed); the command line names the flag (`--lr`), VS Code the run-config field
 * (`"learningRate"` in my.bnn.json) or the setting (`bnnLab.metrics.deadTau`).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { inspectCheckpoint } from '../../../core/checkpoints/inspect';
import { main, reportError } from '../../../core/cli/main';
import { trainCommand } from '../../../core/cli/train';
import { CLI_VOCABULARY } from '../../../core/cli/wording';
import {
  ConfigError,
  fieldName,
  NEUTRAL_VOCABULARY,
  useVocabulary,
  type Vocabulary,
} from '../../../core/errors';
import { resolveConfig } from '../../../core/training/config';
import { EXTENSION_VOCABULARY, settingMessage } from '../../../extension/errorWording';
import { fixture } from '../checkpoints/helpers';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

function configError(raw: Record<string, unknown>, source: string): ConfigError {
  try {
    resolveConfig(raw, source);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  assert.fail(`${JSON.stringify(raw)} was accepted`);
}

/** What `bnn-lab train` prints for an error, as a user sees it on stderr. */
function cliText(e: unknown, values: Record<string, string> = {}): string {
  let text = '';
  reportError(e, trainCommand, values, false, (t) => (text += t));
  return text;
}

void describe('a bad learning rate', () => {
  void it('is one structured error: field, value and the allowed range', () => {
    const e = configError({ preset: 'mnist-cnn', learningRate: 20 }, 'my.bnn.json');
    assert.equal(e.field, 'learningRate');
    assert.equal(e.value, 20);
    assert.deepEqual(e.allowed, {
      kind: 'range',
      min: 0,
      max: 10,
      openMin: true,
      openMax: false,
      integer: false,
    });
  });

  void it('on the command line names the flag: --lr', () => {
    const e = configError({ preset: 'mnist-cnn', learningRate: 20 }, 'command line');
    assert.equal(
      cliText(e, { lr: '20' }),
      'bnn-lab train: --lr must be a number in (0, 10], got 20\n',
    );
  });

  void it('in VS Code names the run-config field and its file, never the flag', () => {
    const e = configError({ preset: 'mnist-cnn', learningRate: 20 }, 'my.bnn.json');
    assert.equal(e.message, 'my.bnn.json: "learningRate" must be a number in (0, 10], got 20');
    assert.doesNotMatch(e.message, /--/);
  });

  void it('from a --config file on the command line keeps the file and field', () => {
    const e = configError({ preset: 'mnist-cnn', learningRate: 20 }, 'my.bnn.json');
    assert.equal(
      cliText(e),
      'bnn-lab train: my.bnn.json: "learningRate" must be a number in (0, 10], got 20\n',
    );
  });
});

void describe('a bad setting', () => {
  void it('in VS Code names the setting', () => {
    const e = configError({ deadTau: 2 }, 'settings');
    assert.equal(
      settingMessage(e, 'metrics.deadTau'),
      'BNN Lab: setting bnnLab.metrics.deadTau must be a number in (0.5, 1), got 2; fix or remove it in the Settings editor',
    );
  });
});

void describe('an unknown run-config key', () => {
  void it('gets "did you mean learningRate?" with the key as the suggestion', () => {
    const e = configError({ preset: 'mnist-cnn', learningrate: 0.1 }, 'my.bnn.json');
    assert.equal(e.field, 'learningrate');
    assert.equal(e.suggestion, 'learningRate');
    assert.equal(
      e.message,
      'my.bnn.json: "learningrate" is not a known key; did you mean "learningRate"?',
    );
  });

  void it('a nested near miss suggests the nested key', () => {
    const e = configError({ preset: 'mnist-cnn', dataset: { name: 'idx', pth: '/x' } }, 'a.json');
    assert.equal(e.suggestion, 'dataset.path');
    assert.match(e.message, /did you mean "dataset\.path"\?$/);
  });

  void it('a key like nothing known lists the keys instead', () => {
    const e = configError({ preset: 'mnist-cnn', colour: 'blue' }, 'a.json');
    assert.equal(e.suggestion, undefined);
    assert.match(
      e.message,
      /"colour" is not a known key \(allowed: preset, epochs, .*learningRate/,
    );
  });

  void it('an unknown enum value suggests the near one', () => {
    const e = configError({ preset: 'mnist-cnn', optimizer: 'Adam' }, 'a.json');
    assert.equal(e.suggestion, 'adam');
    assert.deepEqual(e.allowed, { kind: 'oneOf', values: ['adam', 'sgd'] });
  });
});

void describe('messages raised inside core name fields in the front end words', () => {
  const inspectTau = async (vocabulary: Vocabulary): Promise<string> => {
    useVocabulary(vocabulary);
    try {
      await inspectCheckpoint(fixture('model.safetensors'), { deadTau: 2 });
    } catch (e) {
      return (e as Error).message;
    } finally {
      useVocabulary(NEUTRAL_VOCABULARY);
    }
    return assert.fail('deadTau 2 was accepted');
  };

  void it('the CLI: --tau', async () => {
    assert.equal(await inspectTau(CLI_VOCABULARY), 'inspect: --tau must be in (0.5, 1), got 2');
  });

  void it('VS Code: the bnnLab.metrics.deadTau setting, no flag', async () => {
    const message = await inspectTau(EXTENSION_VOCABULARY);
    assert.equal(message, 'inspect: the bnnLab.metrics.deadTau setting must be in (0.5, 1), got 2');
  });

  void it('no VS Code name is a CLI flag, and every CLI name is one', () => {
    for (const [key, name] of Object.entries(EXTENSION_VOCABULARY)) {
      assert.doesNotMatch(name, /--/, `${key}: ${name}`);
    }
    for (const [key, name] of Object.entries(CLI_VOCABULARY)) {
      assert.match(name, /^--[a-z-]+/, `${key}: ${name}`);
    }
  });

  void it('the CLI names flags while it runs, and gives the caller its vocabulary back', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bnn-wording-')), 'a-file');
    writeFileSync(file, '');
    useVocabulary(EXTENSION_VOCABULARY);
    try {
      let stderr = '';
      const code = await main(
        ['train', '--preset', 'mnist-cnn', '--out', file, '--threads', '1'],
        () => undefined,
        (t) => (stderr += t),
      );
      assert.equal(code, 2);
      assert.match(stderr, /choose another folder \(--out\)/);
      assert.doesNotMatch(stderr, /bnnLab\./);
      assert.equal(fieldName('runsFolder'), EXTENSION_VOCABULARY.runsFolder);
    } finally {
      useVocabulary(NEUTRAL_VOCABULARY);
    }
  });
});
