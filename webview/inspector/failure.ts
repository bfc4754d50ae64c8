/**
 * What the inspector's error page says: a title naming the file, its path written once, the
 * problem without the path it repeats, and whether Retry can help. A pickle that asks to run
 * code is a refusal, not a read error: it says so, names the global and what to do instead, and
 * offers no Retry (reading it again refuses again). Pure, so it is unit-tested.
 */

export interface FailurePage {
  title: string;
  /** The file(s) or folder, each once. */
  paths: string[];
  /** The problem, its leading path removed and other full paths shortened to names. */
  message: string;
  /** What to do, when the page knows better than the message. */
  advice: string | undefined;
  /** Whether Retry is offered. */
  retry: boolean;
}

function basename(path: string): string {
  return path.split(/[\\/]/).filter(Boolean).at(-1) ?? path;
}

function capitalize(text: string): string {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

/** `file` as the host names a page: one path, or a comparison's `A ↔ B`. */
function pathsOf(file: string): string[] {
  return file
    .split(' ↔ ')
    .map((p) => p.trim())
    .filter(Boolean);
}

const REFUSED = /refused to load the Python global "([^"]+)"/;

export function failurePage(file: string, message: string): FailurePage {
  const paths = pathsOf(file);
  let text = message.trim();
  // The path the message starts with is on the page already; a file inside a folder keeps its
  // part below the folder (`epoch-2/model.json: …`).
  for (const path of [...paths].sort((a, b) => b.length - a.length)) {
    if (text.startsWith(`${path}: `) || text.startsWith(`${path}:`)) {
      text = capitalize(text.slice(path.length + 1).trim());
      // A comparison says which of its two files failed.
      if (paths.length > 1) text = `${basename(path)}: ${text}`;
      break;
    }
    if (text.startsWith(`${path}/`) || text.startsWith(`${path}\\`)) {
      text = text.slice(path.length + 1);
      break;
    }
  }
  for (const path of paths) text = text.split(path).join(basename(path));
  const names = paths.map(basename);
  const subject = names.length > 1 ? `${names[0]} and ${names[1]}` : (names[0] ?? '');
  const refused = REFUSED.exec(message);
  if (refused) {
    const culprit = paths.length > 1 ? (paths.find((p) => message.includes(p)) ?? '') : paths[0];
    const name = culprit ? basename(culprit) : subject;
    return {
      title: `${name || 'This file'} tries to run code`,
      paths,
      message: `Loading it would call the Python function ${refused[1]}. BNN Lab never runs code from a checkpoint, so it did not open it.`,
      advice:
        'If you trust where the file came from, load it in Python and save only its weights ' +
        '(torch.save(model.state_dict(), "weights.pt")), then inspect that file. If you do not, delete it.',
      retry: false,
    };
  }
  return {
    title: subject
      ? `Cannot ${paths.length > 1 ? 'compare' : 'inspect'} ${subject}`
      : 'Cannot inspect',
    paths,
    message: text,
    advice: undefined,
    retry: true,
  };
}
