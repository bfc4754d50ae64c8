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
}

const DEFAULT_STATE: InspectorViewState = {
  selected: '',
  sort: undefined,
  seriesMetric: 'quantizationError',
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
