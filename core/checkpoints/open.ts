/**
 * Format detection: picks a reader by the file's first bytes (the extension only shapes the
 * error message), so a renamed file is still read correctly.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { FileFormatError, UserError } from '../errors';
import { openFileSource } from './byteSource';
import { looksLikeHdf5, readKeras3, readKerasH5 } from './keras';
import { looksLikeOnnx, readOnnx } from './onnx';
import type { CheckpointModel } from './model';
import { legacyTorchError, looksLikeLegacyTorch, readPytorch } from './pytorch';
import { looksLikeSafetensors, readSafetensors } from './safetensors';
import { readTfjs } from './tfjs';
import { looksLikeZip, openZip } from './zip';

/** File extensions of the formats the inspector reads (used when scanning a folder). */
export const CHECKPOINT_EXTENSIONS = [
  '.safetensors',
  '.pt',
  '.pth',
  '.bin',
  '.ckpt',
  '.h5',
  '.hdf5',
  '.keras',
  '.onnx',
];

function hexBytes(head: Uint8Array): string {
  return [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Opens a checkpoint: a safetensors file, a PyTorch zip (`.pt/.pth/.bin`), a Keras `.h5` or
 * `.keras`, a TF.js `model.json` (or a folder holding one), or an ONNX model's initializers. The caller must `close()` it.
 * Throws FileFormatError (unreadable content) or UserError (missing file).
 */
export async function openCheckpoint(path: string): Promise<CheckpointModel> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new UserError(`${path}: cannot open (${(error as Error).message})`);
  }
  if (info.isDirectory()) {
    const entries = await readdir(path);
    if (entries.includes('model.json')) return readTfjs(join(path, 'model.json'));
    throw new UserError(`${path}: is a folder without a model.json; pass a checkpoint file`);
  }
  if (basename(path).toLowerCase().endsWith('.json')) return readTfjs(path);
  const source = await openFileSource(path);
  try {
    const head = await source.read(0, Math.min(16, source.size), 'file signature');
    if (looksLikeHdf5(head)) {
      await source.close();
      return await readKerasH5(path);
    }
    if (looksLikeZip(head) && !path.toLowerCase().endsWith('.safetensors')) {
      const archive = await openZip(source);
      if (archive.entries.has('model.weights.h5')) return await readKeras3(source);
      return await readPytorch(source);
    }
    if (path.toLowerCase().endsWith('.onnx')) return await readOnnx(source);
    if (looksLikeSafetensors(head, source.size)) return await readSafetensors(source);
    if (path.toLowerCase().endsWith('.safetensors')) {
      throw new FileFormatError(
        path,
        `is named .safetensors but does not start with a safetensors header (an 8-byte length, then "{"; first bytes ${hexBytes(head)})`,
      );
    }
    if (looksLikeLegacyTorch(head)) throw legacyTorchError(path);
    if (looksLikeOnnx(head)) return await readOnnx(source);
    if (head[0] === 0x7b) {
      await source.close();
      return await readTfjs(path);
    }
    const hex = hexBytes(head);
    throw new FileFormatError(
      path,
      `not a checkpoint format BNN Lab reads (first bytes ${hex || 'none: the file is empty'}); expected safetensors, a PyTorch zip (torch ≥ 1.6), Keras .h5/.keras, a TF.js model.json or ONNX`,
    );
  } catch (error) {
    await source.close();
    throw error;
  }
}
