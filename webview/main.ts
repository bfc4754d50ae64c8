/**
 * Dashboard webview entry: wires host messages → reducer → one render per animation frame.
 * Everything else lives in state.ts (pure) and dashboard.ts (DOM).
 */
import 'uplot/dist/uPlot.min.css';
import './main.css';
import { isToWebview } from '../core/protocol';
import { Dashboard } from './dashboard';
import { initialModel, reduce } from './state';
import { watchTheme } from './theme';
import { getViewState, postToHost, setViewState, type ViewState } from './vscodeApi';

function mount(): void {
  const root = document.getElementById('app');
  if (!root) throw new Error('dashboard: #app element missing from the page');
  let model = initialModel();
  let viewState: ViewState = getViewState();
  let frame: number | undefined;

  const dashboard = new Dashboard(root, {
    post: postToHost,
    get view() {
      return viewState;
    },
    updateView: (patch) => {
      viewState = { ...viewState, ...patch };
      setViewState(viewState);
      schedule();
    },
  });

  // Records can arrive many times per frame; draw once per frame with the latest model.
  function schedule(): void {
    if (frame !== undefined) return;
    frame = requestAnimationFrame(() => {
      frame = undefined;
      try {
        dashboard.render(model);
      } catch (err) {
        dashboard.showError(err instanceof Error ? err.message : String(err));
        throw err;
      }
    });
  }

  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    // Anything posted to the window could land here; trust only well-formed host messages.
    if (!isToWebview(event.data)) return;
    try {
      model = reduce(model, event.data);
    } catch (err) {
      dashboard.showError(err instanceof Error ? err.message : String(err));
      throw err;
    }
    schedule();
  });
  watchTheme(() => dashboard.applyTheme());
  dashboard.render(model);
  postToHost({ kind: 'ready' });
}

mount();
