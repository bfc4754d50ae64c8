/** Which custom editor opens a file: the inspector by default for weights-only extensions. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import {
  DEFAULT_EDITOR_EXTENSIONS,
  INSPECTOR_VIEW_TYPE,
  RUN_CHECKPOINT_VIEW_TYPE,
  WEIGHTS_VIEW_TYPE,
  inspectorViewTypeFor,
} from '../../../extension/inspector/viewTypes';

interface CustomEditor {
  viewType: string;
  priority: string;
  selector: { filenamePattern: string }[];
}

const pkg = JSON.parse(readFileSync(resolve(__dirname, '../../../../package.json'), 'utf8')) as {
  contributes: { customEditors: CustomEditor[] };
};
const editors = new Map(pkg.contributes.customEditors.map((e) => [e.viewType, e]));

test('.pt, .pth, .safetensors and .onnx open in the inspector by default', () => {
  const weights = editors.get(WEIGHTS_VIEW_TYPE);
  assert.equal(weights?.priority, 'default');
  assert.deepEqual(
    weights.selector.map((s) => s.filenamePattern),
    DEFAULT_EDITOR_EXTENSIONS.map((ext) => `*${ext}`),
  );
  for (const file of ['/m/resnet18.pth', 'C:\\m\\w.PT', '/m/model.safetensors', '/m/x.onnx']) {
    assert.equal(inspectorViewTypeFor(file), WEIGHTS_VIEW_TYPE, file);
  }
});

test('.h5, .bin, .ckpt, model.json stay an option (other tools claim them)', () => {
  const option = editors.get(INSPECTOR_VIEW_TYPE);
  assert.equal(option?.priority, 'option');
  const patterns = option.selector.map((s) => s.filenamePattern);
  for (const pattern of ['*.h5', '*.bin', '*.ckpt', 'model.json']) {
    assert.ok(patterns.includes(pattern), pattern);
  }
  for (const ext of DEFAULT_EDITOR_EXTENSIONS) assert.ok(!patterns.includes(`*${ext}`), ext);
  for (const file of ['/m/a.h5', '/m/pytorch_model.bin', '/m/last.ckpt', '/run/model.json']) {
    assert.equal(inspectorViewTypeFor(file), INSPECTOR_VIEW_TYPE, file);
  }
  assert.equal(editors.get(RUN_CHECKPOINT_VIEW_TYPE)?.priority, 'default');
});
