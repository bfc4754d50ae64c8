/**
 * The convention every channel follows (threads and webviews alike): one discriminated union on
 * `kind` per direction; receivers switch on `kind` exhaustively and end with `assertNever`; what
 * crossed a boundary is checked by the channel's guard before use. A guard is built from a table
 * with one entry per kind (`messageGuard<ToWorker>({ … })`): the compiler rejects a table that
 * lacks a kind of the union or names one it does not have, so no list of kinds is kept by hand.
 */

/** A message of any channel. */
export interface Message {
  kind: string;
}

/** Checks the fields of a message whose kind is already known (never its `kind`). */
export type FieldCheck = (message: Record<string, unknown>) => boolean;

/** One field check per kind of `U`, no more, no less. */
export type KindChecks<U extends Message> = { readonly [K in U['kind']]: FieldCheck };

/** The runtime check of a channel direction, with the kinds it accepts (for tests and logs). */
export interface MessageGuard<U extends Message> {
  (value: unknown): value is U;
  readonly kinds: readonly U['kind'][];
}

/** For a kind from a trusted sender (our own worker threads): the kind alone is checked. */
export const anyFields: FieldCheck = () => true;

export const isString = (v: unknown): v is string => typeof v === 'string';
export const isNumber = (v: unknown): v is number => typeof v === 'number';

/** True for one of `values` (a table with one key per member of a string union). */
export const isOneOf =
  (values: Readonly<Record<string, true>>) =>
  (v: unknown): boolean =>
    typeof v === 'string' && Object.prototype.hasOwnProperty.call(values, v);

/** The field check of request/answer channels: the message carries a numeric `id`. */
export const hasId: FieldCheck = (m) => isNumber(m.id);

function hasKind(value: unknown): value is Message {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { kind?: unknown }).kind === 'string'
  );
}

/**
 * The guard of union `U` from its table: a value passes when its `kind` is an own key of `checks`
 * (`toString` and other inherited names are not kinds) and that kind's field check passes.
 */
export function messageGuard<U extends Message>(checks: KindChecks<U>): MessageGuard<U> {
  const table = checks as Readonly<Record<string, FieldCheck>>;
  const guard = (value: unknown): value is U =>
    hasKind(value) &&
    Object.prototype.hasOwnProperty.call(table, value.kind) &&
    table[value.kind](value as unknown as Record<string, unknown>);
  return Object.assign(guard, { kinds: Object.keys(table) as U['kind'][] });
}

/**
 * A short, log-safe rendering of a message that failed its runtime check: JSON (or `String()` for
 * cyclic or BigInt values), cut at 200 characters.
 */
export function previewMessage(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // Cyclic or BigInt: fall back to String().
  }
  text ??= String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Compile-time exhaustiveness for `switch (msg.kind)`. */
export function assertNever(value: never): never {
  throw new Error(`unexpected message: ${JSON.stringify(value)}`);
}
