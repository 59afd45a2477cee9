// The amortised-mode run's record of honest traffic: every message
// published (its sequence number and epoch filled in when the broker sees
// it), which one each packet on the wire is, the publishes the broker has
// not seen yet, what the broker withheld on purpose (messages, manifests),
// and what each subscriber was delivered.

import { SUBS } from './fleet.js';
import type { Honest } from './types.js';

/** A delivery to a subscriber, as its 'message' event gave it. */
export interface Delivery {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly sender: string;
  readonly seq: number;
  readonly epoch: number | undefined;
}

export class HonestLedger {
  /** Every honest message, by id (its index). */
  readonly honest: Honest[] = [];
  /** deliveryKey -> the honest message. */
  readonly byKey = new Map<string, Honest>();
  /** hash|topic -> the honest message those bytes are. */
  readonly byHash = new Map<string, Honest>();
  /** Per publisher, the ids it published that the broker has not received yet (in order). */
  readonly pendingPublish = new Map<string, number[]>([
    ['pub-1', []],
    ['pub-2', []],
  ]);
  /** Per subscriber, the honest messages the broker dropped on their way to it. */
  readonly droppedFor = new Map<string, Set<number>>(SUBS.map((s) => [s, new Set<number>()]));
  /** topic|seq of honest messages whose manifest the proxy dropped or delayed beyond holdMs, per subscriber. */
  readonly manifestLostFor = new Map<string, Map<string, string>>(SUBS.map((s) => [s, new Map<string, string>()]));
  /** Honest messages lost because the broker meant it, by how. */
  readonly lostOnPurpose: Record<string, number> = {};
  /** Honest messages lost for no reason the broker gave (must stay 0). */
  lostUnexplained = 0;
  /** Per subscriber, the deliveryKey of everything delivered. */
  readonly deliveredKeys = new Map<string, Set<string>>(SUBS.map((s) => [s, new Set<string>()]));
  /** Per subscriber, everything delivered, in order. */
  readonly deliveredPayloads = new Map<string, Delivery[]>(SUBS.map((s) => [s, []]));
}
