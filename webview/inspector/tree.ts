/**
 * The layer table as a tree: tensors grouped by module (`layer1.0.conv1.weight` under
 * `layer1` › `layer1.0`), filtered by a search text, with buffers (batch-norm running statistics,
 * step counters) hidden unless asked for. Pure, so it is unit-tested without a DOM.
 */
import type { InspectLayer } from '../../core/protocol';

/**
 * Tensors that are state, not learned parameters: PyTorch's registered buffers of batch norm
 * (`running_mean`, `running_var`, `num_batches_tracked`) and Keras' `moving_mean` /
 * `moving_variance`. Matched on the last name segment, so `bn1.running_mean` and
 * `batch_normalization/moving_mean:0` both count.
 */
const BUFFER_NAMES = /^(running_(mean|var)|num_batches_tracked|moving_(mean|variance))(:\d+)?$/i;

/** The separators of module paths in tensor names: PyTorch `.`, Keras/TF `/`. */
const SEPARATOR = /[./]/;

export function isBuffer(name: string): boolean {
  return BUFFER_NAMES.test(name.split(SEPARATOR).at(-1) ?? name);
}

/** Whether `name` matches the filter: every whitespace-separated term, case-insensitive. */
export function matchesFilter(name: string, filter: string): boolean {
  const terms = filter.toLowerCase().split(/\s+/).filter(Boolean);
  const lower = name.toLowerCase();
  return terms.every((t) => lower.includes(t));
}

/** One row of the grouped table. */
export type TreeRow =
  | {
      kind: 'group';
      /** Module path, e.g. `layer1.0` (the key that collapses it). */
      path: string;
      /** Its text: the part after the parent group, e.g. `0` under `layer1`. */
      label: string;
      depth: number;
      collapsed: boolean;
      /** Tensors under it (after filtering), and their elements. */
      tensors: number;
      params: number;
      binary: number;
    }
  | {
      kind: 'tensor';
      /** Index into the report's layers. */
      index: number;
      /** Its text: the name after the enclosing group's path (the whole name at depth 0). */
      label: string;
      depth: number;
    };

export interface TreeOptions {
  /** Indices of the layers in table order (sorted, or file order). */
  order: readonly number[];
  filter: string;
  showBuffers: boolean;
  /** Group by module; off gives one flat list. */
  group: boolean;
  /** Module paths the user collapsed. */
  collapsed: ReadonlySet<string>;
}

export interface LayerTree {
  rows: TreeRow[];
  /** Tensors that pass the filter and the buffer toggle (shown or inside a collapsed group). */
  shown: number;
  /** Buffers left out because the toggle is off. */
  hiddenBuffers: number;
  /** Every group path, for Expand/Collapse all. */
  groups: string[];
}

interface Node {
  path: string;
  children: Map<string, Node>;
  /** Tensors directly in this module, with their leaf labels. */
  leaves: { index: number }[];
  /** Order of children and leaves as first seen in table order. */
  items: ({ node: Node } | { leaf: number })[];
}

function newNode(path: string): Node {
  return { path, children: new Map(), leaves: [], items: [] };
}

/** The first `segments` module names of `name`, with its own separators (`conv/kernel:0`). */
function joinPath(name: string, segments: number): string {
  let at = 0;
  for (let i = 0; i < segments; i++) {
    const next = name.slice(at).search(SEPARATOR);
    if (next < 0) return name;
    at += next + 1;
  }
  return name.slice(0, at - 1);
}

/**
 * The rows of the layer table. Grouping follows the names' module paths; a module holding one
 * tensor and no submodule is not a group (its tensor stands alone), and a chain of modules with
 * one submodule each is one group (`features.0` rather than `features` › `0`). Groups keep the
 * table order of their first tensor, so a sort orders groups by their best member. A filter
 * shows matching tensors with their groups opened.
 */
export function layerTree(layers: readonly InspectLayer[], options: TreeOptions): LayerTree {
  let hiddenBuffers = 0;
  const visible: number[] = [];
  for (const index of options.order) {
    const name = layers[index].name;
    if (!options.showBuffers && isBuffer(name)) {
      hiddenBuffers++;
      continue;
    }
    if (!matchesFilter(name, options.filter)) continue;
    visible.push(index);
  }
  if (!options.group) {
    return {
      rows: visible.map((index) => ({
        kind: 'tensor',
        index,
        label: layers[index].name,
        depth: 0,
      })),
      shown: visible.length,
      hiddenBuffers,
      groups: [],
    };
  }
  const root = newNode('');
  for (const index of visible) {
    const name = layers[index].name;
    const modules = name.split(SEPARATOR).slice(0, -1);
    let node = root;
    modules.forEach((segment, i) => {
      let child = node.children.get(segment);
      if (!child) {
        child = newNode(joinPath(name, i + 1));
        node.children.set(segment, child);
        node.items.push({ node: child });
      }
      node = child;
    });
    node.leaves.push({ index });
    node.items.push({ leaf: index });
  }
  const rows: TreeRow[] = [];
  const groups: string[] = [];
  const filtering = options.filter.trim() !== '';
  const stats = (node: Node): { tensors: number; params: number; binary: number } => {
    let tensors = node.leaves.length;
    let params = 0;
    let binary = 0;
    for (const leaf of node.leaves) {
      const layer = layers[leaf.index];
      params += layer.shape.reduce((a, b) => a * b, 1);
      if (layer.binary === true) binary++;
    }
    for (const child of node.children.values()) {
      const s = stats(child);
      tensors += s.tensors;
      params += s.params;
      binary += s.binary;
    }
    return { tensors, params, binary };
  };
  // `emit` false: inside a collapsed group, where only the group paths are collected.
  const walk = (node: Node, parentPath: string, depth: number, emit = true): void => {
    for (const item of node.items) {
      if ('leaf' in item) {
        if (!emit) continue;
        const name = layers[item.leaf].name;
        rows.push({
          kind: 'tensor',
          index: item.leaf,
          label: parentPath ? name.slice(parentPath.length + 1) : name,
          depth,
        });
        continue;
      }
      // Fold chains of single submodules into one group.
      let child = item.node;
      while (child.leaves.length === 0 && child.children.size === 1) {
        child = [...child.children.values()][0];
      }
      const s = stats(child);
      if (s.tensors === 1 && child.children.size === 0) {
        // A module with a single tensor: the tensor alone, labelled from the parent.
        walk(child, parentPath, depth, emit);
        continue;
      }
      groups.push(child.path);
      const collapsed = !filtering && options.collapsed.has(child.path);
      if (emit) {
        rows.push({
          kind: 'group',
          path: child.path,
          label: parentPath ? child.path.slice(parentPath.length + 1) : child.path,
          depth,
          collapsed,
          ...s,
        });
      }
      walk(child, child.path, depth + 1, emit && !collapsed);
    }
  };
  walk(root, '', 0);
  return { rows, shown: visible.length, hiddenBuffers, groups };
}
