/**
 * Errors a user can act on. The message names the file, field or value and says what to do;
 * the glue shows `message` in one notification and logs `stack`.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** A bad value in a run config, CLI flag or setting: names the source and the field. */
export class ConfigError extends UserError {
  override name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly field: string,
    detail: string,
  ) {
    super(`${source}: "${field}" ${detail}`);
  }
}

/** A file that is missing, truncated or not in the expected format. */
export class FileFormatError extends UserError {
  override name = 'FileFormatError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** Thrown inside the training loop when the user cancels; not an error for the UI. */
export class CancelledError extends Error {
  override name = 'CancelledError';
  constructor() {
    super('cancelled');
  }
}

/** Lazy assertion for hot paths: the message is built only on failure (as tfjs-core does). */
export function assert(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new Error(message());
}
