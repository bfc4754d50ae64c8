/**
 * View state shared by the step charts of one page (those with the same `syncKey`): the x window
 * (zoom into steps 200–400 on the loss chart and every step chart follows) and the smoothing
 * weight. A chart rebuilt after a theme change or a new run picks both up again.
 */
import type { XRange } from './zoom';

export interface GroupMember {
  /** Show `range`, or everything when undefined. Must not publish back. */
  applyZoom(range: XRange | undefined): void;
  /** Redraw with this smoothing weight. Must not publish back. */
  applySmoothing(weight: number): void;
}

interface Group {
  zoom: XRange | undefined;
  smoothing: number;
  members: Set<GroupMember>;
}

const groups = new Map<string, Group>();

function group(key: string): Group {
  let g = groups.get(key);
  if (!g) {
    g = { zoom: undefined, smoothing: 0, members: new Set() };
    groups.set(key, g);
  }
  return g;
}

/** Adds `member` to the group `key`; returns the group's current zoom and smoothing. */
export function joinGroup(
  key: string,
  member: GroupMember,
): { zoom: XRange | undefined; smoothing: number } {
  const g = group(key);
  g.members.add(member);
  return { zoom: g.zoom, smoothing: g.smoothing };
}

export function leaveGroup(key: string, member: GroupMember): void {
  groups.get(key)?.members.delete(member);
}

/** A user zoomed or reset (`undefined`) one chart: every other member follows. */
export function publishZoom(key: string, source: GroupMember, range: XRange | undefined): void {
  const g = group(key);
  g.zoom = range;
  for (const m of g.members) if (m !== source) m.applyZoom(range);
}

/** A user moved one chart's smoothing slider: every other member follows. */
export function publishSmoothing(key: string, source: GroupMember, weight: number): void {
  const g = group(key);
  g.smoothing = weight;
  for (const m of g.members) if (m !== source) m.applySmoothing(weight);
}
