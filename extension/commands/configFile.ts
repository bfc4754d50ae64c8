/**
 * Where a run-config field sits in its file's text, so "Open Config" on an error selects the key
 * the error is about. Pure (no vscode import): the unit tests check it.
 */
import { findNodeAtLocation, parseTree, type Segment } from 'jsonc-parser';

/** `architecture.blocks[2].filters` → `['architecture', 'blocks', 2, 'filters']`. */
export function fieldPath(field: string): Segment[] {
  const out: Segment[] = [];
  for (const part of field.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1] !== '') out.push(m[1]);
    for (const index of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(index[1]));
  }
  return out;
}

/**
 * The [start, end) offsets of a field's key in a JSON text (of its value for an array element),
 * or of the nearest enclosing field that exists; undefined when the text does not parse or has
 * none of it. @param field a ConfigError's field, e.g. `learningrate` or `dataset.path`.
 */
export function fieldRange(text: string, field: string): [number, number] | undefined {
  const tree = parseTree(text);
  if (!tree) return undefined;
  const segments = fieldPath(field);
  for (let n = segments.length; n > 0; n--) {
    const node = findNodeAtLocation(tree, segments.slice(0, n));
    if (!node) continue;
    const key = node.parent?.type === 'property' ? node.parent.children?.[0] : undefined;
    const at = key ?? node;
    return [at.offset, at.offset + at.length];
  }
  return undefined;
}
