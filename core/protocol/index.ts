/**
 * The protocol: the data schema and every channel that crosses a thread or webview boundary.
 * Import from the module you need (`protocol/schema`, `protocol/engine`, …); this index keeps
 * `from '…/protocol'` working for code not yet pointed at one.
 *
 * - schema.ts: TrainConfig, MetricsRecord, inspection reports (what files and channels carry)
 * - channel.ts: the convention (guards built per kind, `assertNever`, `previewMessage`)
 * - engine.ts: host ↔ engine worker
 * - analysis.ts: host ↔ analysis worker
 * - dashboard.ts: host ↔ dashboard webview
 * - inspector.ts: host ↔ inspector webview
 *
 * Two thread channels carry their folder's own types and live there, on the same convention:
 * core/checkpoints/h5Protocol.ts (HDF5 reader) and core/parallel/protocol.ts (replicas).
 */
export * from './schema';
export { assertNever, previewMessage, type MessageGuard } from './channel';
export * from './engine';
export * from './analysis';
export * from './dashboard';
export * from './inspector';
