/**
 * Sentences the dashboard's banner shows about how a run ended. Pure, for unit tests.
 */
import { formatInteger } from '../../core/format';

/**
 * The banner of a cancelled run: `Run cancelled by the user at step 130.` The engine's own
 * message ("cancelled by the user") is folded into the sentence instead of repeated after it;
 * any other message follows as its own sentence.
 */
export function cancelledText(step: number, message: string | undefined): string {
  const at = step > 0 ? ` at step ${formatInteger(step)}` : '';
  const reason = message?.trim().replace(/\.$/, '') ?? '';
  const byUser = /^(run )?cancell?ed by the user$/i.test(reason);
  if (byUser) return `Run cancelled by the user${at}.`;
  if (!reason) return `Run cancelled${at}.`;
  const sentence = reason.replace(/^cancell?ed:?\s*/i, '');
  return `Run cancelled${at}. ${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.`;
}

/**
 * An error message shown under a line that already names `file`: the message without the
 * path it repeats at its start (`/a/b.pth: not a checkpoint` → `not a checkpoint`), or with
 * the path written once where it is mid-sentence, so that the page names the file once.
 */
export function messageWithoutFile(file: string, message: string): string {
  if (!file) return message;
  for (const prefix of [`${file}: `, `${file}:`]) {
    if (message.startsWith(prefix)) {
      const rest = message.slice(prefix.length).trim();
      return rest ? rest.charAt(0).toUpperCase() + rest.slice(1) : message;
    }
  }
  const base = file.split(/[\\/]/).pop() ?? file;
  return message.includes(file) ? message.split(file).join(base) : message;
}
