// Which channel a topic belongs to, and which channels a key request is about.

import { topicMatches, validateTopicFilter } from '../topic/grammar.js';

const isWildcard = (level: string): boolean => level === '+' || level === '#';

interface Specificity {
  readonly literals: number;
  readonly hasHash: boolean;
  readonly pluses: number;
}

function specificity(filter: string): Specificity {
  const levels = filter.split('/');
  return {
    literals: levels.filter((l) => !isWildcard(l)).length,
    hasHash: levels[levels.length - 1] === '#',
    pluses: levels.filter((l) => l === '+').length,
  };
}

/** Negative if `a` is more specific than `b` (see channelFor). */
export function compareSpecificity(a: string, b: string): number {
  const sa = specificity(a);
  const sb = specificity(b);
  if (sa.literals !== sb.literals) return sb.literals - sa.literals;
  if (sa.hasHash !== sb.hasHash) return sa.hasHash ? 1 : -1;
  if (sa.pluses !== sb.pluses) return sa.pluses - sb.pluses;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The channel of `topic` among a publisher's publish filters: the most
 * specific filter that matches it, where more literal (non-wildcard) levels
 * win, then a filter without '#', then fewer '+' levels, then the smaller
 * string (code unit order), so the choice is total and stable. The most
 * specific channel is the one the most subscribers can be authorised for
 * (a key is only granted to a subscriber whose rights cover the whole channel).
 * Undefined if no filter matches.
 */
export function channelFor(publishFilters: readonly string[], topic: string): string | undefined {
  let best: string | undefined;
  for (const filter of publishFilters) {
    if (!topicMatches(filter, topic)) continue;
    if (best === undefined || compareSpecificity(filter, best) < 0) best = filter;
  }
  return best;
}

/**
 * True if some topic name matches both filters (so a subscription to one may
 * receive messages of the other).
 */
export function filtersOverlap(a: string, b: string): boolean {
  validateTopicFilter(a);
  validateTopicFilter(b);
  const x = a.split('/');
  const y = b.split('/');
  // A filter starting with a wildcard matches no topic starting with '$'.
  if ((isWildcard(x[0]!) && y[0]!.startsWith('$')) || (isWildcard(y[0]!) && x[0]!.startsWith('$'))) return false;
  for (let i = 0; ; i++) {
    const p = x[i];
    const q = y[i];
    if (p === '#' || q === '#') return true; // '#' matches its parent level and any suffix
    if (p === undefined || q === undefined) return p === q; // both exhausted at once
    if (p !== '+' && q !== '+' && p !== q) return false;
  }
}
