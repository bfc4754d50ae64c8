/**
 * Checkpoint inspector webview entry (dist/webview/inspector.js): host messages → view.
 * The host owns the data; the page keeps only the selection and sort (api.ts).
 */
import './inspector.css';
import { assertNever, isToInspector } from '../../core/protocol';
import { watchTheme } from '../shared/theme';
import { getViewState, postToHost, setViewState } from './api';
import { InspectorView } from './view';

function mount(): void {
  const root = document.getElementById('app');
  if (!root) throw new Error('inspector: #app element missing from the page');
  let state = getViewState();
  const view = new InspectorView(root, {
    post: postToHost,
    get state() {
      return state;
    },
    update: (patch) => {
      state = { ...state, ...patch };
      setViewState(state);
    },
  });
  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    // Anything posted to the window could land here; trust only well-formed host messages.
    const msg = event.data;
    if (!isToInspector(msg)) return;
    try {
      switch (msg.kind) {
        case 'loading':
          view.showLoading(msg.file);
          break;
        case 'content':
          view.showContent(msg.content);
          break;
        case 'failed':
          view.showError(msg.file, msg.message);
          break;
        case 'selectLayer':
          view.select(msg.name, false);
          break;
        default:
          assertNever(msg);
      }
    } catch (err) {
      view.showError('', err instanceof Error ? err.message : String(err));
      throw err;
    }
  });
  watchTheme(() => view.applyTheme());
  window.addEventListener('resize', () => view.resize());
  postToHost({ kind: 'inspectorReady' });
}

mount();
