/**
 * The only door to the extension host. Every message goes through {@link postToHost}, typed
 * with `ToHost`, so a bare `postMessage({...})` never appears in the webview.
 */
import type { ToHost } from '../../core/protocol';
import type { SortDirection, TableColumn } from './table';

/** View state that survives the panel being hidden or the window reloading. */
export interface ViewState {
  /** Name of the layer in focus, or `''` for all binary layers. */
  selectedLayer: string;
  /** How each layer's histogram over time is drawn. */
  overTimeMode: 'heatmap' | 'ridgeline';
  /** Log-10 y axis on the per-metric small multiples. */
  logScale: boolean;
  /** Layer table sort; `''` keeps model order. */
  sortColumn: TableColumn | '';
  sortDirection: SortDirection;
}

const DEFAULT_VIEW_STATE: ViewState = {
  selectedLayer: '',
  overTimeMode: 'heatmap',
  logScale: false,
  sortColumn: '',
  sortDirection: 'asc',
};

let api: ReturnType<typeof acquireVsCodeApi<ViewState>> | undefined;

/** `acquireVsCodeApi` may be called only once per webview, so the handle is cached. */
function vscode(): ReturnType<typeof acquireVsCodeApi<ViewState>> {
  api ??= acquireVsCodeApi<ViewState>();
  return api;
}

/** Sends a message to the extension host. */
export function postToHost(msg: ToHost): void {
  vscode().postMessage(msg);
}

/** The persisted view state, with defaults for fields an older version did not store. */
export function getViewState(): ViewState {
  const stored = vscode().getState();
  return {
    ...DEFAULT_VIEW_STATE,
    ...(typeof stored === 'object' && stored !== null ? stored : {}),
  };
}

/** Persists the view state (VS Code keeps it across hide/show and reloads). */
export function setViewState(state: ViewState): void {
  vscode().setState(state);
}
