// The hostile broker's memory and hands in the signed-mode run: pools of the
// honest packets it wrote to each client (what it replays and tampers with),
// the announcements and revocation lists it saw, the counters of what it
// injected, the re-signed attacks still waiting, and the one way it injects
// a packet (labelled as an attack, so that the observers can tell).

import { ReorderHold, Ring, type Tally } from '../harness.js';
import { deviceOf, freshSeq, mqttClientId } from '../plant.js';
import type { MitmConnection, MitmProxy, Rng, WriteMeta } from '../../support/mitm-proxy.js';
import type { Fleet } from './fleet.js';
import type { Attack, KindRow, PoolItem, Prepared } from './types.js';

/** The device behind a proxy connection. */
export const identityOf = (conn: MitmConnection): string | undefined => deviceOf(conn.clientId);
/** The other subscriber. */
export const other = (id: string): string => (id === 'sub-1' ? 'sub-2' : 'sub-1');
/** The other publisher. */
export const otherPub = (id: string): string => (id === 'pub-1' ? 'pub-2' : 'pub-1');

export class Attacker {
  /** Which client instance of each subscriber is connected (sub-1 restarts: 2). */
  readonly instance = new Map<string, number>([
    ['sub-1', 1],
    ['sub-2', 1],
  ]);
  readonly groupPool = new Map<string, Ring<PoolItem>>([
    ['sub-1', new Ring(4000)],
    ['sub-2', new Ring(4000)],
  ]);
  readonly directPool = new Map<string, Ring<PoolItem>>([
    ['sub-1', new Ring(300)],
    ['sub-2', new Ring(300)],
  ]);
  readonly grantPool = new Map<string, Ring<PoolItem>>([
    ['sub-1', new Ring(300)],
    ['sub-2', new Ring(300)],
  ]);
  readonly requestPool = new Map<string, Ring<PoolItem>>([
    ['pub-1', new Ring(300)],
    ['pub-2', new Ring(300)],
  ]);
  /** The last announcement seen of each subject. */
  readonly announcements = new Map<string, Uint8Array>();
  /** The revocation lists the CA published, in order. */
  readonly lists: { bytes: Uint8Array; number: number }[] = [];
  /** Broker-side copies of what pub-1 sent (c2b-*), by hash|topic: their kind and how many were written. */
  readonly c2bLabels = new Map<string, { kind: string; copies: number }>();
  /** How often each c2b copy reached each connection (the first c2b-duplicate to arrive is the original). */
  readonly c2bSeen = new Map<string, number>();
  readonly reorder = new ReorderHold();
  /** Honest packets the broker delayed or held back and has not written yet. */
  pendingHonest = 0;
  attacking = false;
  attackStart = 0;
  injected = 0;
  /** Stray MQTT acknowledgements injected (counted here: no client processes them as a PUBLISH). */
  noise = 0;
  /** Every client applied revocation list 1 (rogue-1 revoked). */
  revoked = false;
  /** Every client applied revocation list 2. */
  list2 = false;
  /** The re-signed attacks not injected yet (attacks/resigned.ts). */
  readonly prepared: Prepared[] = [];
  /** A re-signed attack is being built (one at a time). */
  preparedBusy = false;

  constructor(
    readonly fleet: Fleet,
    readonly proxy: MitmProxy,
    readonly rng: Rng,
    readonly tally: Tally<KindRow>,
    readonly attackTarget: number,
    readonly honestTarget: number,
  ) {}

  /** Attacks per honest message written to a subscriber, to reach the target along with the honest stream. */
  perEventTarget(): number {
    return Math.max(1, Math.ceil((this.attackTarget * 1.04) / Math.max(1, this.honestTarget * 1.9)));
  }

  connOf(id: string): MitmConnection | undefined {
    return this.proxy.connectionOf(mqttClientId(id));
  }

  meta(kind: string, expect?: string): WriteMeta {
    return { kind, attack: true, ...(expect ? { expect } : {}) };
  }

  fresh(seq: number): number {
    return freshSeq(this.rng, seq);
  }

  inject(target: string, kind: string, topic: string, payload: Uint8Array, extra: { retain?: boolean; qos?: 0 | 1; dup?: boolean; expect?: string } = {}): boolean {
    const conn = this.connOf(target);
    if (!conn || conn.closed) return false;
    conn.inject(
      'toClient',
      { topic, payload, qos: extra.qos ?? (this.rng.chance(0.5) ? 1 : 0), retain: extra.retain ?? false, dup: extra.dup ?? false },
      this.meta(kind, extra.expect),
    );
    this.injected++;
    return true;
  }

  launch(a: Attack): void {
    if (!a) return;
    this.inject(a.target, a.kind, a.topic, a.payload, {
      ...(a.retain !== undefined ? { retain: a.retain } : {}),
      ...(a.qos !== undefined ? { qos: a.qos } : {}),
      ...(a.dup !== undefined ? { dup: a.dup } : {}),
      ...(a.expect !== undefined ? { expect: a.expect } : {}),
    });
  }

  /** Builds and injects the first re-signed attack whose moment has come (one at a time: signing is slow). */
  launchPrepared(): void {
    if (this.preparedBusy) return;
    const i = this.prepared.findIndex((p) => p.ready());
    if (i < 0) return;
    const p = this.prepared.splice(i, 1)[0]!;
    this.preparedBusy = true;
    p.build()
      .then(({ topic, payload }) => {
        this.inject(p.target, p.kind, topic, payload, { qos: 1 });
      })
      .catch((err: unknown) => this.tally.sample(`prepared ${p.kind} failed: ${(err as Error).message}`))
      .finally(() => {
        this.preparedBusy = false;
      });
  }
}
