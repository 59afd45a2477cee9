// The signed-mode run's record of honest traffic: every message published,
// which one each packet on the wire is (by hash and topic), the publishes a
// client has made but the broker has not seen yet, and the deliveries the
// broker withheld on purpose.

import type { Honest } from './types.js';

export class HonestLedger {
  /** Every honest message, by id (its index). */
  readonly honest: Honest[] = [];
  /** hash|topic -> the honest message those bytes are. */
  readonly byHash = new Map<string, Honest>();
  /** Per publisher, what it published and the broker has not received yet (in order). */
  readonly pendingPublish = new Map<string, { id: number; topic: string }[]>();
  /** Per subscriber, the honest messages the broker dropped on its way to it. */
  readonly droppedFor = new Map<string, Set<number>>([
    ['sub-1', new Set()],
    ['sub-2', new Set()],
  ]);

  /** What `id` must receive: the messages for it that the broker did not drop. */
  expectedFor(id: string): Honest[] {
    return this.honest.filter((h) => h.to.includes(id) && !this.droppedFor.get(id)!.has(h.id));
  }
}
