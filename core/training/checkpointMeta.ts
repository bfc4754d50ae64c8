/**
 * The `bnnLab` block of a BNN Lab checkpoint's model.json, and the check that a folder is a
 * checkpoint a fine-tune can start from. Free of TensorFlow.js, so the extension host can run the
 * check before asking the user anything.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileFormatError, UserError } from '../errors';
import { FILE_CAPS, readBoundedTextSync } from '../io/boundedFile';

/** What `model.json`'s `bnnLab` key holds. */
export interface CheckpointMeta {
  version: 1;
  preset: string;
  epoch: number;
  step: number;
  /** Binary layers by name, with their quantizers (read by the inspector). */
  binaryLayers: Record<
    string,
    {
      quantizer: string;
      clip: number | null;
      inputQuantizer: string | null;
      scaling?: string;
      recu?: boolean;
    }
  >;
  testAccuracy: number | null;
  /** ReCU's τ of the epoch that produced the checkpoint (runs with ReCU only). */
  tau?: number;
}

/**
 * Reads the source checkpoint's metadata without loading weights.
 * @throws UserError for a file, a folder without model.json, a foreign model (pointing to
 * `bnn-lab inspect`) or a checkpoint without binary layers.
 */
export function checkSourceCheckpoint(dir: string): CheckpointMeta {
  const inspectHint = `to look inside other model formats use \`bnn-lab inspect ${dir}\` (or BNN Lab: Inspect Checkpoint)`;
  if (!existsSync(dir)) throw new UserError(`checkpoint ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) {
    throw new UserError(
      `${dir} is a file, not a BNN Lab checkpoint folder (…/checkpoints/epoch-N with model.json); ${inspectHint}`,
    );
  }
  const jsonPath = join(dir, 'model.json');
  if (!existsSync(jsonPath)) {
    throw new UserError(
      `${dir} is not a BNN Lab checkpoint: it has no model.json (name a folder like RUN/checkpoints/epoch-3)`,
    );
  }
  let json: { bnnLab?: CheckpointMeta };
  try {
    json = JSON.parse(
      readBoundedTextSync(jsonPath, { what: 'model.json', maxBytes: FILE_CAPS.modelJson }),
    );
  } catch (e) {
    throw new FileFormatError(jsonPath, `cannot be read as JSON: ${(e as Error).message}`);
  }
  if (typeof json.bnnLab !== 'object' || json.bnnLab === null) {
    throw new UserError(
      `${dir} is not a BNN Lab checkpoint (model.json has no "bnnLab" metadata), so it cannot be fine-tuned; ${inspectHint}`,
    );
  }
  if (Object.keys(json.bnnLab.binaryLayers ?? {}).length === 0) {
    throw new UserError(
      `${dir} has no binary layers: there is nothing for a binary fine-tune to change`,
    );
  }
  return json.bnnLab;
}
