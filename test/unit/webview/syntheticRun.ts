/**
 * A deterministic synthetic training run for dashboard tests: a `start` record with four binary
 * layers (plus full-precision ones), `step` records whose latent-weight histograms drift and
 * widen, per-epoch evaluations and a final `done`.
 */
import type {
  Histogram,
  LayerInfo,
  LayerTelemetry,
  MetricsRecord,
  TrainConfig,
} from '../../../core/protocol';

/** Options of {@link syntheticRun}. */
export interface SyntheticRunOptions {
  steps?: number;
  epochs?: number;
  bins?: number;
  /** Test accuracy of each epoch; its length must equal `epochs`. */
  testAccuracies?: number[];
}

/** The records and the figures a test may want to check against. */
export interface SyntheticRun {
  runId: string;
  records: MetricsRecord[];
  binaryLayers: string[];
  finalTestAccuracy: number;
}

const LAYERS: LayerInfo[] = [
  {
    name: 'conv2d_1',
    kind: 'conv2d',
    shape: [3, 3, 1, 32],
    binary: true,
    quantizer: 'ste_sign(clip=1)',
    params: 288,
  },
  {
    name: 'batch_norm_1',
    kind: 'batchNormalization',
    shape: [32],
    binary: false,
    quantizer: '',
    params: 64,
  },
  {
    name: 'conv2d_2',
    kind: 'conv2d',
    shape: [3, 3, 32, 64],
    binary: true,
    quantizer: 'ste_sign(clip=1)',
    params: 18432,
  },
  {
    name: 'dense_1',
    kind: 'dense',
    shape: [3136, 128],
    binary: true,
    quantizer: 'ste_sign(clip=1)',
    params: 401408,
  },
  {
    name: 'dense_2',
    kind: 'dense',
    shape: [128, 10],
    binary: true,
    quantizer: 'ste_sign(clip=1)',
    params: 1280,
  },
];

/** Laplace CDF with location `mu` and scale `b`. */
function laplaceCdf(x: number, mu: number, b: number): number {
  return x < mu ? 0.5 * Math.exp((x - mu) / b) : 1 - 0.5 * Math.exp(-(x - mu) / b);
}

/** Counts of `params` Laplace-distributed weights in `bins` equal bins over ±6 scales. */
function laplaceHistogram(params: number, mu: number, b: number, bins: number): Histogram {
  const min = mu - 6 * b;
  const max = mu + 6 * b;
  const width = (max - min) / bins;
  const counts = Array.from({ length: bins }, (_, i) =>
    Math.round(
      params * (laplaceCdf(min + (i + 1) * width, mu, b) - laplaceCdf(min + i * width, mu, b)),
    ),
  );
  return { min, max, counts };
}

/** Builds the run; every number is a closed-form function of the step, so reruns are equal. */
export function syntheticRun(options: SyntheticRunOptions = {}): SyntheticRun {
  const steps = options.steps ?? 30;
  const epochs = options.epochs ?? 2;
  const bins = options.bins ?? 64;
  const testAccuracies = options.testAccuracies ?? [0.9412, 0.9637];
  if (testAccuracies.length !== epochs) {
    throw new Error(`syntheticRun: need ${epochs} test accuracies, got ${testAccuracies.length}`);
  }
  const runId = '2026-11-22T00-00-00-mnist-cnn';
  const stepEvery = 20;
  const totalSteps = steps * stepEvery;
  const stepsPerEpoch = totalSteps / epochs;
  const t0 = Date.UTC(2026, 10, 22, 0, 0, 0);
  const config: TrainConfig = {
    preset: 'mnist-cnn',
    epochs,
    batchSize: 64,
    learningRate: 0.001,
    seed: 42,
    dataset: { name: 'mnist' },
    limit: 0,
    testLimit: 0,
    telemetryEverySteps: stepEvery,
    histogramBins: bins,
    deadTau: 0.99,
  };
  const records: MetricsRecord[] = [
    {
      event: 'start',
      runId,
      preset: 'mnist-cnn',
      config,
      layers: LAYERS,
      backend: {
        name: 'wasm',
        tfBackend: 'wasm',
        threads: 1,
        skipped: [{ name: 'tensorflow', reason: 'not installed' }],
      },
      stepsPerEpoch,
      totalSteps,
      time: t0,
    },
  ];
  const binary = LAYERS.filter((l) => l.binary);
  for (let i = 1; i <= steps; i++) {
    const step = i * stepEvery;
    const epoch = Math.min(epochs, Math.ceil(step / stepsPerEpoch));
    const progress = i / steps;
    const layers: LayerTelemetry[] = binary.map((info, k) => {
      const scale = 0.02 + 0.05 * progress + 0.01 * k;
      const mu = 0.004 * Math.sin(i / 3 + k);
      const histogram = laplaceHistogram(info.params, mu, scale, bins);
      return {
        name: info.name,
        params: info.params,
        mean: mu,
        std: Math.SQRT2 * scale,
        min: histogram.min,
        max: histogram.max,
        absMean: scale,
        histogram,
        quantizationError: 0.42 - 0.08 * progress + 0.02 * k,
        deadWeightRatio: 0.02 + 0.01 * progress + 0.004 * k,
        starvedWeightRatio: 0.001 * k,
        signBalance: 0.5 + 0.01 * Math.sin(i + k),
        signEntropyBits: 0.999,
        flipRate: 0.004 * Math.exp(-3 * progress) + 0.0005 * k,
        frozenRatio: 1 - 0.6 * (1 - Math.exp(-4 * progress)) + 0.05 * k,
        // Per output channel α around the layer scale (the last kernel axis is the channel).
        alpha: Array.from(
          { length: info.shape.at(-1) ?? 1 },
          (_, c) => scale * (0.8 + (0.4 * ((c * 7919) % 97)) / 96),
        ),
      };
    });
    records.push({
      event: 'step',
      epoch,
      step,
      loss: 2.3 * Math.exp(-3 * progress) + 0.12 + 0.03 * Math.sin(i),
      accuracy: 0.97 - 0.85 * Math.exp(-4 * progress) + 0.01 * Math.cos(i),
      learningRate: 0.001,
      examplesPerSecond: 1800 + 40 * Math.sin(i),
      layers,
      time: t0 + i * 1500,
    });
    if (step % stepsPerEpoch === 0) {
      records.push({
        event: 'epoch',
        epoch,
        step,
        trainLoss: 0.5 / epoch,
        trainAccuracy: 0.9 + 0.03 * epoch,
        testLoss: 0.3 / epoch,
        testAccuracy: testAccuracies[epoch - 1],
        durationMs: stepsPerEpoch * 75,
        checkpoint: `checkpoints/epoch-${epoch}`,
        time: t0 + i * 1500 + 800,
      });
    }
  }
  const finalTestAccuracy = testAccuracies[epochs - 1];
  records.push({
    event: 'done',
    status: 'completed',
    testAccuracy: finalTestAccuracy,
    time: t0 + steps * 1500 + 1000,
  });
  return { runId, records, binaryLayers: binary.map((l) => l.name), finalTestAccuracy };
}
