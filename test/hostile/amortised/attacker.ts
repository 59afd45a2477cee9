// The hostile broker's memory and hands in the amortised-mode run: pools of
// the honest amortised envelopes, manifests and signed envelopes it wrote to
// each subscriber, the epoch keys the insider (sub-2) learnt, the writes it
// still owes (delays, holds), the counters of what it injected, and the one
// way it injects a packet (labelled as an attack); with the wire helpers its
// attacks share.

import { decodeAmortised } from '../../../src/protocol/amortised.js';
import type { GroupEpochKeys } from '../../../src/protocol/group.js';
import type { MitmProxy, Rng, WriteMeta } from '../../support/mitm-proxy.js';
import { deliveryKey } from '../amortised-model.js';
import { ReorderHold, Ring, type Tally } from '../harness.js';
import { T1, T1_RETAINED, T2, deviceOf, freshSeq, mqttClientId } from '../plant.js';
import { SUBS, type Fleet } from './fleet.js';
import type { HonestLedger } from './ledger.js';
import type { Attack, PoolItem, Row } from './types.js';

/** CH1's other topics (the retained one included) or CH2's. */
export const sameChannel = (topic: string): string[] => (topic.startsWith('plant/line1/') ? [...T1, T1_RETAINED] : T2).filter((t) => t !== topic);
/** The other channel's topics. */
export const otherChannel = (topic: string): string[] => (topic.startsWith('plant/line1/') ? T2 : T1);
/** The field offsets of an amortised envelope (header, sender, seq, epoch, timestamp, ciphertext). */
export const envLayout = (b: Uint8Array) => {
  const f = decodeAmortised(b);
  const senderEnd = 4 + 2 + new TextEncoder().encode(f.sender).length;
  const h = f.header.length; // ... epoch u32 | seq u64 | timestamp u64
  return { f, senderEnd, epochAt: h - 20, seqAt: h - 16, tsAt: h - 8, ctAt: h + 4 };
};

export class Attacker {
  /** The epoch keys sub-2 (the insider) learnt from its grants, by sender|channel|epoch. */
  readonly insiderKeys = new Map<string, GroupEpochKeys>();
  readonly envPool = new Map<string, Ring<PoolItem>>(SUBS.map((s) => [s, new Ring<PoolItem>(3000)]));
  readonly manifestPool = new Map<string, Ring<PoolItem>>(SUBS.map((s) => [s, new Ring<PoolItem>(600)]));
  readonly signedPool = new Map<string, Ring<PoolItem>>(SUBS.map((s) => [s, new Ring<PoolItem>(100)]));
  attacking = false;
  injected = 0;
  /** Honest writes the broker delayed or held back and has not made yet. */
  pendingWrites = 0;
  readonly reorder = new ReorderHold();
  /** Manifest-first reordering: envelopes of (conn, topic) held until the next manifest of that topic. */
  readonly manifestFirst = new Map<string, { releases: (() => void)[]; timer: NodeJS.Timeout }>();

  constructor(
    readonly fleet: Fleet,
    readonly proxy: MitmProxy,
    readonly rng: Rng,
    readonly tally: Tally<Row>,
    readonly ledger: HonestLedger,
    readonly attackTarget: number,
    readonly honestTarget: number,
  ) {}

  /** Attacks per honest packet written to a subscriber, to reach the target along with the honest stream. */
  perPacket(): number {
    return Math.max(1, Math.ceil((this.attackTarget * 1.08) / Math.max(1, this.honestTarget * 2.3)));
  }

  meta(kind: string): WriteMeta {
    return { kind, attack: true };
  }

  /** The subscriber behind a proxy connection (undefined for the publishers). */
  subOf(connId: number): string | undefined {
    const c = this.proxy.connectionById(connId);
    const id = deviceOf(c?.clientId);
    return id && (SUBS as readonly string[]).includes(id) ? id : undefined;
  }

  inject(me: string, kind: string, topic: string, payload: Uint8Array, extra: { retain?: boolean; qos?: 0 | 1; dup?: boolean } = {}): void {
    const conn = this.proxy.connectionOf(mqttClientId(me));
    if (!conn || conn.closed) return;
    conn.inject('toClient', { topic, payload, qos: extra.qos ?? (this.rng.chance(0.5) ? 1 : 0), retain: extra.retain ?? false, dup: extra.dup ?? false }, this.meta(kind));
    this.injected++;
  }

  launch(me: string, a: Attack): void {
    if (!a) return;
    this.inject(me, a.kind, a.topic, a.payload, { ...(a.retain !== undefined && { retain: a.retain }), ...(a.qos !== undefined && { qos: a.qos }), ...(a.dup !== undefined && { dup: a.dup }) });
  }

  fresh(seq: number): number {
    return freshSeq(this.rng, seq);
  }

  /** A bit anywhere but in the sender id (an unknown sender would wait 30 s for a certificate). */
  bitOutsideSender(len: number, senderEnd: number): number {
    for (;;) {
      const bit = this.rng.int(len * 8);
      if (bit < 32 || bit >= senderEnd * 8) return bit;
    }
  }

  /** `me` was delivered `x` (a copy of it is now a replay or a duplicate, not a first delivery). */
  delivered(me: string, x: PoolItem): boolean {
    return this.ledger.deliveredKeys.get(me)!.has(deliveryKey(x.sender, x.topic, x.epoch, x.seq));
  }
}
