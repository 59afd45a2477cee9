// When a replay guard's state began: the start of the restart rule (guard.ts).
// A guard without storage starts now; one on a MemoryStorage continues the
// state of the first guard opened on that object (per namespace); a durable
// storage has no start (its windows survive a restart).

import type { Clock } from '../clock.js';
import { MemoryStorage } from '../storage/memory.js';
import type { Storage } from '../storage/types.js';

/** The clock's reading, refused if it is not a finite number (a NaN would disable every time check). */
export function readClock(clock: Clock): number {
  const now = clock();
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new RangeError(`clock returned ${String(now)}`);
  return now;
}

/**
 * When the state of each MemoryStorage began, per guard namespace: the first guard opened on the object. A
 * MemoryStorage lives as long as its object, so a guard reopened on it (same process) continues that state.
 */
const memoryStateSince = new WeakMap<Storage, Map<string, number>>();

/** The default of stateSinceMs (see ReplayGuardOptions): undefined for durable storage. */
export function defaultStateSince(storage: Storage | undefined, namespace: string, clock: Clock): number | undefined {
  if (storage === undefined) return readClock(clock);
  if (!(storage instanceof MemoryStorage)) return undefined;
  let byNamespace = memoryStateSince.get(storage);
  if (byNamespace === undefined) memoryStateSince.set(storage, (byNamespace = new Map()));
  const since = byNamespace.get(namespace);
  if (since !== undefined) return since;
  const now = readClock(clock);
  byNamespace.set(namespace, now);
  return now;
}
