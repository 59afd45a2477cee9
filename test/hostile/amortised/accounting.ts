// How the amortised-mode run scores each packet a subscriber processed: the
// bucket of what the client did (deliveries, security events, silent
// duplicates) is matched with the model's prediction, counted per attack
// kind, checked against the kind's set of outcomes; held messages are settled
// later (by a manifest or the hold timer) and counted then.

import type { HeldItem, Origin } from '../amortised-model.js';
import { Tally, isAttackRecord } from '../harness.js';
import { hashOf } from '../oracle.js';
import type { HonestLedger } from './ledger.js';
import { KIND_OUTCOMES, NOOP_KINDS } from './outcomes.js';
import { emptyRow, type Arrival, type Bucket } from './types.js';

export class Accounting {
  readonly tally = new Tally(emptyRow);
  /** Client errors, and packets the observers could not place. */
  readonly errors: string[] = [];
  /** After the warm-up: mismatches count from then on. */
  armed = false;
  mismatches = 0;
  outOfSet = 0;
  /** Hold-timer runs that rejected other messages than the model's. */
  timerMismatches = 0;
  timerRejections = 0;
  outOfOrderReleases = 0;

  constructor(readonly ledger: HonestLedger) {}

  sample(line: string): void {
    this.tally.sample(line);
  }

  originOf(a: Arrival, packet: number): Origin {
    if (isAttackRecord(a)) return { attack: String(a.meta?.kind ?? 'unlabelled'), packet };
    const h = this.ledger.byHash.get(`${hashOf(a.payload)}|${a.topic}`);
    return h ? { honest: h.id, packet } : { packet };
  }

  /** Held messages settled by a manifest, the hold timer or the hold bounds: attacks are rejected later; honest ones are lost (on purpose or not). */
  settleLater(me: string, items: readonly HeldItem[], how: string, code = 'BAD_SIGNATURE'): void {
    for (const h of items) {
      if (h.origin.attack !== undefined) {
        this.tally.row(h.origin.attack).rejectedLater++;
        this.tally.code(`${code} (${how})`);
      } else if (h.origin.honest !== undefined) {
        const hm = this.ledger.honest[h.origin.honest]!;
        const lost = this.ledger.manifestLostFor.get(me)!.get(`${h.topic}|${h.seq}`);
        if (!hm.afterArming) continue;
        if (lost !== undefined) this.ledger.lostOnPurpose[lost] = (this.ledger.lostOnPurpose[lost] ?? 0) + 1;
        else {
          this.ledger.lostUnexplained++;
          this.sample(`honest ${hm.id} (${hm.sender} ${hm.topic} seq ${h.seq}) held by ${me} and rejected (${how}) though its manifest was not dropped`);
        }
      }
    }
  }

  /** A packet's processing is over: what the client did (the bucket) against the model's prediction, then the kind's row. */
  closeBucket(me: string, b: Bucket, duplicatesNow: number): void {
    const p = b.prediction;
    const observedDup = duplicatesNow - b.duplicatesBefore;
    const expectedCodes = Object.entries(p.rejected).filter(([, n]) => (n ?? 0) > 0).map(([c, n]) => `${c}x${n}`).sort().join(',');
    const counts = new Map<string, number>();
    for (const c of b.events) counts.set(c, (counts.get(c) ?? 0) + 1);
    const observedCodes = [...counts].map(([c, n]) => `${c}x${n}`).sort().join(',');
    const expectedDeliveries = p.delivered.map((d) => d.key).join(' ');
    const observedDeliveries = b.deliveries.join(' ');
    const ok = observedDup === p.duplicates && expectedCodes === observedCodes && expectedDeliveries === observedDeliveries;
    const kind = b.origin.attack;
    const describe = (): string =>
      `${me} ${kind ? `attack ${kind}` : b.origin.honest !== undefined ? `honest ${b.origin.honest}` : 'other'} on ${b.arrival.topic} (${b.arrival.payload.length} B): ` +
      `expected ${p.outcome} [dup ${p.duplicates}; ${expectedCodes}; ${expectedDeliveries}], observed [dup ${observedDup}; ${observedCodes}; ${observedDeliveries}]`;
    if (!ok && this.armed) {
      this.mismatches++;
      this.sample(describe());
    }
    // Releases of one manifest come in sequence order.
    for (let i = 1; i < b.deliveries.length; i++) {
      const [s0, t0, e0, q0] = b.deliveries[i - 1]!.split('|');
      const [s1, t1, e1, q1] = b.deliveries[i]!.split('|');
      if (s0 === s1 && t0 === t1 && e0 === e1 && Number(q1) <= Number(q0)) this.outOfOrderReleases++;
    }
    this.settleLater(me, p.forged, 'manifest');
    this.settleLater(me, p.evicted, 'hold bounds', 'TOO_LARGE');
    if (kind === undefined) {
      if (!ok && this.armed) this.tally.row('honest traffic').mismatches++;
      return;
    }
    if (kind === 'sentinel') return;
    const r = this.tally.attack(kind, p.outcome, ok);
    const allowed = KIND_OUTCOMES[kind];
    if (!allowed || !allowed.includes(p.outcome)) {
      r.outOfSet++;
      this.outOfSet++;
      this.sample(`OUT OF SET ${describe()}`);
    }
    // The packet's own outcome. A manifest (even a replayed one) may release honest held messages: those are
    // honest deliveries, checked above and by the honest accounting; anything else delivered is an accepted attack.
    const predicted = new Set(p.delivered.map((d) => d.key));
    const unexpected = b.deliveries.filter((k) => !predicted.has(k));
    if (p.outcome === 'deliver' || p.delivered.some((d) => d.origin.attack !== undefined) || unexpected.length > 0) {
      this.tally.accept(r, 'ACCEPTED', describe());
    } else if (p.outcome === 'held') {
      // Resolved later (manifest or timer): counted in rejectedLater then.
    } else if (p.outcome === 'duplicate') {
      r.duplicates++;
      this.tally.code('DUPLICATE (silent)');
    } else if (p.outcome === 'none' || p.outcome === 'await') {
      if (NOOP_KINDS.has(kind)) r.ignored++;
      else this.tally.accept(r, 'ABSORBED', describe());
    } else {
      r.rejected++;
      this.tally.code(p.outcome);
    }
  }
}
