/**
 * The inspector channel: extension host (extension/inspector/) ↔ checkpoint inspector webview.
 * The page is not trusted to send well-formed messages, so `isFromInspector` checks every field.
 */
import { anyFields, isOneOf, isString, messageGuard } from './channel';
import type { CompareReport, InspectReport, SeriesReport } from './schema';

/** What a checkpoint inspector webview shows. */
export type InspectorContent =
  /** One checkpoint: summary, layer table, layer details. */
  | { mode: 'checkpoint'; file: string; report: InspectReport; deadTau: number }
  /** Two checkpoints: per-layer flip rate. */
  | { mode: 'compare'; fileA: string; fileB: string; report: CompareReport }
  /** A folder of checkpoints: flips between consecutive ones, frozenRatio, metrics over time. */
  | { mode: 'series'; folder: string; report: SeriesReport; deadTau: number; watching: boolean };

/** Host → inspector webview. */
export type ToInspector =
  /** The file (or folder) is being read; replaces an error. */
  | { kind: 'loading'; file: string }
  /** Reply to `inspectorReady`, and after every (re-)analysis: everything to draw from scratch. */
  | { kind: 'content'; content: InspectorContent }
  /** Reading or analysing failed: one message naming the file and the problem. */
  | { kind: 'failed'; file: string; message: string }
  /** The Layers view selected a layer (by tensor name). */
  | { kind: 'selectLayer'; name: string };

/** Inspector webview → host. */
export type FromInspector =
  /** Sent once the webview has mounted; the host answers with `content` (or `loading`/`failed`). */
  | { kind: 'inspectorReady' }
  /** The user selected a layer in the table; the host mirrors it in the Layers view. */
  | { kind: 'layerSelected'; name: string }
  /** A button in the page. */
  | {
      kind: 'inspectorCommand';
      command: 'showLog' | 'retry' | 'toggleWatch' | 'finetune' | 'export';
    };
/** Runtime check of a message received by the inspector webview. */
export const isToInspector = messageGuard<ToInspector>({
  loading: anyFields,
  content: anyFields,
  failed: anyFields,
  selectLayer: anyFields,
});

const INSPECTOR_COMMANDS = {
  showLog: true,
  retry: true,
  toggleWatch: true,
  finetune: true,
  export: true,
} as const satisfies Record<Extract<FromInspector, { kind: 'inspectorCommand' }>['command'], true>;

/** Runtime check of a message received from the inspector webview: its kind and every field. */
export const isFromInspector = messageGuard<FromInspector>({
  inspectorReady: anyFields,
  layerSelected: (m) => isString(m.name),
  inspectorCommand: (m) => isOneOf(INSPECTOR_COMMANDS)(m.command),
});
