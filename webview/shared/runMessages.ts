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
