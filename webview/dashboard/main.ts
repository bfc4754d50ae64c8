/**
 * Dashboard webview entry: wires host messages → reducer → one render per animation frame.
 * Everything else lives in state.ts (pure) and dashboard.ts (DOM).
 */
import 'uplot/dist/uPlot.min.css';
import './main.css';
import { isToWebview } from '../../core/protocol';
import { Dashboard } from './dashboard';
import { initialModel, reduce } from './state';
import { watchTheme } from '../shared/theme';
import { getViewState, postToHost, setViewState, type ViewState } from './vscodeApi';

/** Least time between two redraws caused by streamed records (the host batches as often). */
const STREAM_RENDER_INTERVAL_MS = 250;

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

  let lastRenderMs = -Infinity;
  let streamTimer: number | undefined;

  // Records can arrive many times per frame; draw once per frame with the latest model.
  function schedule(): void {
    if (frame !== undefined) return;
    frame = requestAnimationFrame(() => {
      frame = undefined;
      lastRenderMs = performance.now();
      try {
        dashboard.render(model);
      } catch (err) {
        dashboard.showError(err instanceof Error ? err.message : String(err));
        throw err;
      }
    });
  }

  /**
   * Streamed records redraw at most every {@link STREAM_RENDER_INTERVAL_MS} (the host's own
   * batching interval): a figure that changes 10 times a second cannot be read, and each redraw
   * costs a frame. Snapshots, status changes and the user's clicks draw on the next frame.
   */
  function scheduleStreamed(): void {
    if (frame !== undefined || streamTimer !== undefined) return;
    const waitMs = lastRenderMs + STREAM_RENDER_INTERVAL_MS - performance.now();
    if (waitMs <= 0) {
      schedule();
      return;
    }
    streamTimer = window.setTimeout(() => {
      streamTimer = undefined;
      schedule();
    }, waitMs);
  }

  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    // Anything posted to the window could land here; trust only well-formed host messages.
    const msg = event.data;
    if (!isToWebview(msg)) return;
    try {
      model = reduce(model, msg);
    } catch (err) {
      dashboard.showError(err instanceof Error ? err.message : String(err));
      throw err;
    }
    if (msg.kind === 'records') scheduleStreamed();
    else schedule();
  });
  watchTheme(() => dashboard.applyTheme());
  dashboard.render(model);
  postToHost({ kind: 'ready' });
}

mount();
