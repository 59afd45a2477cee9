// How the signed-mode run scores each packet a client processed: the
// observer's record (the model's prediction next to what the client did) is
// matched, counted per attack kind and reason code, and anything delivered
// or silently absorbed is an accepted attack.

import { Tally, isAttackRecord } from '../harness.js';
import { formatDelta, matches } from '../model.js';
import type { Observation } from '../observer.js';
import { emptyRow, type KindRow } from './types.js';

/**
 * Attacks that are no-ops by design: an identical announcement or revocation
 * list again, a grant on another client's topic, an unknown reserved topic,
 * stray MQTT acknowledgements. Any other attack that changes nothing and is
 * not reported counts as accepted.
 */
const IGNORABLE = new Set(['ann-replay', 'crl-replay', 'grant-other-topic', 'reserved-unknown', 'mqtt-noise']);

export class Accounting {
  readonly tally = new Tally(emptyRow);
  /** Packets whose outcome differs from the model's (honest ones included). */
  mismatches = 0;
  /** The longest wait between the proxy writing a packet and the client starting on it. */
  maxLag = 0;
  /** Packets processed per proxy connection (to tell when every client has caught up). */
  readonly processedByConn = new Map<number, number>();
  readonly #log: (line: string) => void;
  /** HOSTILE_DEBUG_TOPIC=<topic>: every packet processed on that topic is logged. */
  readonly #debugTopic = process.env['HOSTILE_DEBUG_TOPIC'];

  constructor(log: (line: string) => void) {
    this.#log = log;
  }

  row(kind: string): KindRow {
    return this.tally.row(kind);
  }

  sample(line: string): void {
    this.tally.sample(line);
  }

  /** Packets processed by every client so far. */
  get processed(): number {
    return [...this.processedByConn.values()].reduce((a, b) => a + b, 0);
  }

  /** One packet a client processed (an arrow: the observers call it unbound). */
  readonly account = (o: Observation): void => {
    const tally = this.tally;
    if (this.#debugTopic && o.topic === this.#debugTopic) this.#log(`debug ${o.label} #${o.n} ${o.record?.meta.kind ?? 'honest'} ${o.prediction.outcome} -> ${formatDelta(o.observed)}`);
    this.processedByConn.set(o.conn ?? -1, (this.processedByConn.get(o.conn ?? -1) ?? 0) + 1);
    if (o.lagMs !== undefined && o.lagMs > this.maxLag) this.maxLag = o.lagMs;
    const meta = o.record?.meta ?? {};
    const attack = o.record !== undefined && isAttackRecord(o.record);
    const p = o.prediction;
    const ok = matches(p, o.observed);
    const describe = (): string =>
      `${o.label} conn ${o.conn} #${o.n} ${attack ? `attack ${meta.kind ?? '?'}` : `honest${meta.kind ? ` (${meta.kind})` : ''}`} on ${o.topic} ` +
      `(${o.bytes} B${o.retained ? ', retained' : ''}): expected ${p.outcome} [${formatDelta(p.delta)}], observed [${formatDelta(o.observed)}]`;
    if (!ok) {
      this.mismatches++;
      this.sample(describe());
    }
    if (!attack) {
      if (!ok) this.row('honest traffic').mismatches++;
      return;
    }
    const r = tally.attack(String(meta.kind ?? 'unlabelled'), p.outcome, ok);
    const rejectedCodes = Object.entries(o.observed.rejected).filter(([, n]) => (n ?? 0) > 0);
    if (o.observed.delivered > 0) tally.accept(r, 'ACCEPTED', describe());
    else if (rejectedCodes.length > 0) {
      r.rejected++;
      for (const [code] of rejectedCodes) tally.code(code);
    } else if (o.observed.duplicates > 0) {
      r.duplicates++;
      tally.code('DUPLICATE (silent)');
    } else if (p.outcome === 'none' && IGNORABLE.has(String(meta.kind))) r.ignored++;
    else if (p.outcome === 'await') r.awaited++;
    else {
      // Expected a rejection (or a delivery) and saw nothing at all: absorbed silently.
      tally.accept(r, 'ABSORBED', describe());
    }
  };
}
