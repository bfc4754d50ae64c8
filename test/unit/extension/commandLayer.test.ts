/**
 * The command layer's plain parts (no VS Code needed): where "Open Config" puts the cursor, the
 * Train BNN quick pick's order, the dataset check that runs before a run folder exists, and the
 * import graph of extension/ (no cycles).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { checkDatasetFiles } from '../../../core/data/datasets';
import { fieldPath, fieldRange } from '../../../extension/commands/configFile';
import { finetuneFailedMessage } from '../../../extension/commands/endMessages';
import { QUICK_DEMO, trainRows } from '../../../extension/commands/trainPicks';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

const ROOT = join(__dirname, '../../../..');

void describe('Open Config selects the key an error is about', () => {
  const text = `{
  "$schema": "./schemas/bnn.schema.json",
  "preset": "mnist-cnn",
  "learningrate": 0.1,
  "stepMilestones": [3, 2],
  "dataset": { "name": "idx", "path": "data/missing" }
}
`;
  const selected = (field: string): string | undefined => {
    const range = fieldRange(text, field);
    return range && text.slice(range[0], range[1]);
  };

  void it('a top-level key', () => {
    assert.equal(selected('learningrate'), '"learningrate"');
  });
  void it('a nested key', () => {
    assert.equal(selected('dataset.path'), '"path"');
    assert.equal(fieldRange(text, 'dataset.path')?.[0], text.indexOf('"path"'));
  });
  void it('an array element', () => {
    assert.equal(selected('stepMilestones[1]'), '2');
  });
  void it('a field the file lacks: its nearest parent, or nothing', () => {
    assert.equal(selected('dataset.name2'), '"dataset"');
    assert.equal(fieldRange(text, 'epochs'), undefined);
  });
  void it('paths of fields', () => {
    assert.deepEqual(fieldPath('architecture.blocks[2].filters'), [
      'architecture',
      'blocks',
      2,
      'filters',
    ]);
  });
});

void describe('Train BNN quick pick', () => {
  const presets = [
    { name: 'mnist-cnn', description: 'MNIST CNN' },
    { name: 'cifar10-vgg', description: 'CIFAR' },
  ];

  void it('the quick demo comes first: 1 epoch on 2,000 images', () => {
    const rows = trainRows(presets, []);
    const first = rows[0];
    assert.equal(first.kind, 'preset');
    assert.match(first.label, /Quick demo/);
    assert.deepEqual(first.kind === 'preset' && first.fields, {
      preset: 'mnist-cnn',
      epochs: 1,
      limit: 2000,
    });
    assert.deepEqual(QUICK_DEMO, { preset: 'mnist-cnn', epochs: 1, limit: 2000 });
  });

  void it('then the presets in catalog order, then the run configs', () => {
    const rows = trainRows(presets, [
      { file: 'F', name: 'my.bnn.json', relative: 'cfg/my.bnn.json' },
    ]);
    assert.deepEqual(
      rows.map((r) => `${r.kind}:${r.label}`),
      [
        'preset:$(rocket) Quick demo',
        'separator:Presets',
        'preset:$(beaker) mnist-cnn',
        'preset:$(beaker) cifar10-vgg',
        'separator:Run configs (*.bnn.json)',
        'file:$(file) my.bnn.json',
      ],
    );
  });
});

void describe('a bad dataset.path is caught before a run folder exists', () => {
  const root = mkdtempSync(join(tmpdir(), 'bnn-dataset-check-'));

  void it('a folder that does not exist', () => {
    const missing = join(root, 'nowhere');
    assert.throws(
      () => checkDatasetFiles({ name: 'idx', path: missing }),
      (e: Error) =>
        e.message.includes(`${missing} does not exist`) && e.message.includes('"dataset.path"'),
    );
  });

  void it('a file instead of a folder', () => {
    const file = join(root, 'file.txt');
    writeFileSync(file, 'x');
    assert.throws(
      () => checkDatasetFiles({ name: 'cifar10', path: file }),
      /is a file, not a folder/,
    );
  });

  void it('a folder without its IDX files names the missing file', () => {
    const dir = join(root, 'idx');
    mkdirSync(dir);
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), '');
    assert.throws(
      () => checkDatasetFiles({ name: 'idx', path: dir }),
      /train-labels-idx1-ubyte: is missing/,
    );
  });

  void it('a CIFAR-10 folder without test_batch.bin names it', () => {
    const dir = join(root, 'cifar');
    mkdirSync(dir);
    for (let i = 1; i <= 5; i++) writeFileSync(join(dir, `data_batch_${i}.bin`), '');
    assert.throws(
      () => checkDatasetFiles({ name: 'cifar10', path: dir }),
      /test_batch\.bin: is missing/,
    );
  });

  void it('the embedded datasets need no files', () => {
    checkDatasetFiles({ name: 'mnist' });
  });
});

void describe('the end report of a failed fine-tune', () => {
  const checkpoint = '/w/.bnn-lab/runs/r1/checkpoints/epoch-2';

  void it('names the checkpoint once when the message already names it', () => {
    const text = finetuneFailedMessage(checkpoint, `${checkpoint}/model.json: truncated`);
    assert.equal(text.split(checkpoint).length - 1, 1, text);
    assert.equal(
      text,
      `BNN Lab: fine-tuning failed: ${checkpoint}/model.json: truncated (the source checkpoint is unchanged)`,
    );
  });

  void it('names it when the message does not', () => {
    assert.equal(
      finetuneFailedMessage(checkpoint, 'fine-tuning diverged'),
      `BNN Lab: fine-tuning ${checkpoint} failed: fine-tuning diverged (the source checkpoint is unchanged)`,
    );
  });
});

/** The relative imports of a TypeScript file, resolved to files under extension/ or core/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)(?!\s+type)[^;]*?from '(\.[^']+)';/gms)) {
    const base = resolve(dirname(file), m[1]);
    for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
      try {
        readFileSync(candidate);
        out.push(candidate);
        break;
      } catch {
        // not this one
      }
    }
  }
  return out;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory()
      ? tsFiles(join(dir, d.name))
      : d.name.endsWith('.ts')
        ? [join(dir, d.name)]
        : [],
  );
}

void describe('extension/ imports', () => {
  void it('have no cycle among the command layer, the dashboard and the settings', () => {
    const files = tsFiles(join(ROOT, 'extension'));
    const graph = new Map(
      files.map((f) => [f, importsOf(f).filter((i) => i.includes('/extension/'))]),
    );
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 'open');
      stack.push(f);
      for (const next of graph.get(f) ?? []) {
        if (state.get(next) === 'open') {
          cycles.push(
            [...stack.slice(stack.indexOf(next)), next].map((p) => relative(ROOT, p)).join(' → '),
          );
        } else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    assert.deepEqual(cycles, []);
  });
});
