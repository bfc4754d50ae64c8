/**
 * The inspector page's only door to the extension host: messages typed `FromInspector`, and the
 * view state (selection, sort) that survives hide/show and reloads.
 */
import type { FromInspector } from '../../core/protocol';
import type { SeriesMetric, SortState } from './model';

export interface InspectorViewState {
  /** Tensor name in focus, or `''`. */
  selected: string;
  sort: SortState | undefined;
  seriesMetric: SeriesMetric;
  /** The layer table's filter text. */
  filter: string;
  /** Batch-norm running statistics and counters shown in the table. */
  showBuffers: boolean;
  /** Tensors grouped by module. */
  group: boolean;
  /** Module groups the user collapsed. */
  collapsed: string[];
  /** Width of the details pane in CSS pixels (the user drags its edge). */
  detailsWidth: number;
}

const DEFAULT_STATE: InspectorViewState = {
  selected: '',
  sort: undefined,
  seriesMetric: 'quantizationError',
  filter: '',
  showBuffers: false,
  group: true,
  collapsed: [],
  detailsWidth: 300,
};

let api: ReturnType<typeof acquireVsCodeApi<InspectorViewState>> | undefined;

/** `acquireVsCodeApi` may be called only once per webview, so the handle is cached. */
function vscode(): ReturnType<typeof acquireVsCodeApi<InspectorViewState>> {
  api ??= acquireVsCodeApi<InspectorViewState>();
  return api;
}

export function postToHost(msg: FromInspector): void {
  vscode().postMessage(msg);
}

export function getViewState(): InspectorViewState {
  const stored = vscode().getState();
  return { ...DEFAULT_STATE, ...(typeof stored === 'object' && stored !== null ? stored : {}) };
}

export function setViewState(state: InspectorViewState): void {
  vscode().setState(state);
}
