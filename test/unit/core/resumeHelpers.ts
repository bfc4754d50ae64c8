/** What the exact-resume tests of training and fine-tuning share. */
import type { MetricsRecord } from '../../../core/protocol';
import type { RunHooks } from '../../../core/training/api';

/** Quiet hooks that cancel the run once `cancelAfterEpoch` epoch records went by. */
export function hooks(cancelAfterEpoch = Infinity): RunHooks {
  let epochs = 0;
  return {
    onRecord: (r) => {
      if (r.event === 'epoch') epochs++;
    },
    log: () => {},
    isCancelled: () => epochs >= cancelAfterEpoch,
  };
}

/**
 * Records after `epoch`, without wall-clock fields. `phase` records (a fine-tune's setup before
 * its first epoch, which a resume skips) are not among them.
 */
export function comparable(records: MetricsRecord[], afterEpoch: number): unknown[] {
  return records
    .filter(
      (r) =>
        r.event !== 'start' && r.event !== 'phase' && (!('epoch' in r) || r.epoch > afterEpoch),
    )
    .map((r) => {
      const { time: _t, ...rest } = r as Record<string, unknown>;
      delete rest.examplesPerSecond;
      delete rest.durationMs;
      return rest;
    });
}
