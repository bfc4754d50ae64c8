/** The watched folder's fingerprint changes when a checkpoint appears or grows, not otherwise. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { folderSignature } from '../../../extension/inspector/folderSignature';

test('folderSignature sees new files, new epoch folders and writes into them', async () => {
  const root = await mkdtemp(join(tmpdir(), 'bnn-lab-signature-'));
  try {
    await mkdir(join(root, 'epoch-1'));
    await writeFile(join(root, 'epoch-1', 'model.json'), '{}');
    const first = await folderSignature(root);
    assert.equal(await folderSignature(root), first, 'stable while nothing changes');
    await mkdir(join(root, 'epoch-2'));
    const withFolder = await folderSignature(root);
    assert.notEqual(withFolder, first);
    await writeFile(join(root, 'epoch-2', 'model.json'), '{}');
    const withFile = await folderSignature(root);
    assert.notEqual(withFile, withFolder);
    await appendFile(join(root, 'epoch-2', 'model.json'), ' ');
    assert.notEqual(await folderSignature(root), withFile, 'a file still being written');
    await writeFile(join(root, 'ckpt_3.pt'), 'x');
    assert.match(await folderSignature(root), /ckpt_3\.pt 1 /);
    assert.equal(await folderSignature(join(root, 'missing')), '');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
