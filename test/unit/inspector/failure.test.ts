/** The inspector's error page: the path once, a refused pickle without Retry. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { failurePage } from '../../../webview/inspector/failure';

const FILE = '/work/models/os_system.pt';

test('a read error: the title names the file, the path appears once, Retry is offered', () => {
  const page = failurePage(
    '/work/models/truncated.pt',
    '/work/models/truncated.pt: no zip end-of-central-directory record: the archive is truncated',
  );
  assert.equal(page.title, 'Cannot inspect truncated.pt');
  assert.deepEqual(page.paths, ['/work/models/truncated.pt']);
  assert.equal(page.message, 'No zip end-of-central-directory record: the archive is truncated');
  assert.equal(page.retry, true);
  // Nowhere else on the page does the full path appear.
  assert.ok(!`${page.title} ${page.message}`.includes('/work/models'));
});

test('a refused pickle says the file tries to run code, names what it calls, and has no Retry', () => {
  const page = failurePage(
    FILE,
    `${FILE}: refused to load the Python global "os.system": BNN Lab reads only tensors, dicts and lists and never runs code from a checkpoint; re-save just the weights with torch.save(model.state_dict(), path) and inspect that file`,
  );
  assert.equal(page.title, 'os_system.pt tries to run code');
  assert.equal(page.retry, false);
  assert.match(page.message, /os\.system/);
  assert.match(page.advice ?? '', /state_dict/);
  assert.deepEqual(page.paths, [FILE]);
});

test('a comparison names both files once and says which one failed', () => {
  const page = failurePage(
    '/a/x.pt ↔ /b/y.pt',
    '/b/y.pt: safetensors header says 9 bytes of JSON but the file has only 4',
  );
  assert.equal(page.title, 'Cannot compare x.pt and y.pt');
  assert.deepEqual(page.paths, ['/a/x.pt', '/b/y.pt']);
  assert.equal(
    page.message,
    'y.pt: Safetensors header says 9 bytes of JSON but the file has only 4',
  );
});

test('a folder: a file inside it is named below the folder, mid-sentence paths become names', () => {
  const inside = failurePage(
    '/runs/r1/checkpoints',
    '/runs/r1/checkpoints/epoch-2/model.json: truncated',
  );
  assert.equal(inside.message, 'epoch-2/model.json: truncated');
  const mid = failurePage('/m/a.pt', 'cannot read /m/a.pt (EACCES)');
  assert.equal(mid.message, 'cannot read a.pt (EACCES)');
});
