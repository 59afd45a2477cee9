// Amortised mode, the subscriber's side: amortised messages decrypted but not
// yet authenticated, held until a verified manifest lists their digest, and
// the manifests verified recently, for messages that arrive after theirs. Pure
// bookkeeping (no cryptography, no I/O), bounded in number and time; the
// KeyManager decrypts, verifies and decides (amortised-manager.ts).

import { equalBytes } from '../../wire/bytes.js';
import type { ManifestEntry } from './manifest.js';

/** An amortised message decrypted and checked, waiting for its manifest. */
export interface HeldAmortised<M> {
  /** sender \n channel \n topic \n epoch */
  readonly stream: string;
  readonly seq: number;
  readonly digest: Uint8Array;
  readonly heldAt: number;
  readonly message: M;
}

interface StoredManifest {
  readonly first: number;
  readonly last: number;
  readonly bySeq: Map<number, Uint8Array>;
  readonly until: number;
  readonly id: string;
}

export type Coverage = 'match' | 'mismatch' | 'uncovered';

export const amortisedStreamId = (sender: string, channel: string, topic: string, epoch: number): string => `${sender}\n${channel}\n${topic}\n${epoch}`;

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/**
 * Subscriber-side bookkeeping (no cryptography): held messages and recently
 * verified manifests, both bounded in number and time. Only verified
 * manifests may be added; held messages are unauthenticated and never
 * delivered unless a manifest lists their digest.
 */
export class AmortisedReceiver<M> {
  readonly #held = new Map<string, HeldAmortised<M>[]>();
  /** Per stream, how many held messages carry each sequence number: isHeld() scans only when one does. */
  readonly #heldSeqs = new Map<string, Map<number, number>>();
  #heldCount = 0;
  readonly #manifests = new Map<string, StoredManifest[]>();
  /** Per stream, no stored manifest covers a number above this (a message usually arrives before its manifest). */
  readonly #highest = new Map<string, number>();
  #manifestCount = 0;
  readonly #manifestIds = new Set<string>();

  constructor(
    readonly holdMs: number,
    readonly maxHeld: number,
    readonly maxManifests: number,
  ) {}

  get heldCount(): number {
    return this.#heldCount;
  }

  /** What the stored manifests say about (stream, seq, digest). */
  coverage(stream: string, seq: number, digest: Uint8Array): Coverage {
    const top = this.#highest.get(stream);
    if (top === undefined || seq > top) return 'uncovered';
    for (const m of this.#manifests.get(stream) ?? []) {
      if (seq < m.first || seq > m.last) continue;
      const d = m.bySeq.get(seq);
      return d !== undefined && equalBytes(d, digest) ? 'match' : 'mismatch';
    }
    return 'uncovered';
  }

  /** True if a copy with the same digest is held already. */
  isHeld(stream: string, seq: number, digest: Uint8Array): boolean {
    if (!this.#heldSeqs.get(stream)?.has(seq)) return false; // the usual answer, without a scan of the stream's held messages
    return (this.#held.get(stream) ?? []).some((h) => h.seq === seq && equalBytes(h.digest, digest));
  }

  #countSeq(stream: string, seq: number, delta: 1 | -1): void {
    let counts = this.#heldSeqs.get(stream);
    if (counts === undefined) {
      counts = new Map();
      this.#heldSeqs.set(stream, counts);
    }
    const n = (counts.get(seq) ?? 0) + delta;
    if (n > 0) counts.set(seq, n);
    else counts.delete(seq);
    if (counts.size === 0) this.#heldSeqs.delete(stream);
  }

  /** Holds a message; returns those evicted to stay within maxHeld (oldest first). */
  hold(h: HeldAmortised<M>): HeldAmortised<M>[] {
    const list = this.#held.get(h.stream) ?? [];
    list.push(h);
    this.#held.set(h.stream, list);
    this.#heldCount++;
    this.#countSeq(h.stream, h.seq, 1);
    const evicted: HeldAmortised<M>[] = [];
    while (this.#heldCount > this.maxHeld) {
      let oldest: HeldAmortised<M> | undefined;
      for (const l of this.#held.values()) if (l.length && (!oldest || l[0]!.heldAt < oldest.heldAt)) oldest = l[0];
      if (!oldest) break;
      this.#remove(oldest);
      evicted.push(oldest);
    }
    return evicted;
  }

  #remove(h: HeldAmortised<M>): void {
    const list = this.#held.get(h.stream);
    if (!list) return;
    const i = list.indexOf(h);
    if (i < 0) return;
    list.splice(i, 1);
    this.#heldCount--;
    this.#countSeq(h.stream, h.seq, -1);
    if (list.length === 0) this.#held.delete(h.stream);
  }

  /**
   * Adds a verified manifest of `stream` and settles the held messages it
   * covers: `matched` in sequence order (deliver them), `forged` (reject them
   * as BAD_SIGNATURE). `signedDigest` is a hash of the bytes the manifest's
   * signature covers: a manifest whose digest is stored for `stream` already
   * is ignored, whatever its signature (a redelivered copy, or the same batch
   * signed again: Falcon signatures are randomised, so signature bytes do not
   * identify what was signed).
   */
  addManifest(stream: string, entries: readonly ManifestEntry[], signedDigest: Uint8Array, now: number): { matched: HeldAmortised<M>[]; forged: HeldAmortised<M>[] } {
    const id = `${stream}\n${hex(signedDigest)}`;
    if (this.#manifestIds.has(id)) return { matched: [], forged: [] };
    const bySeq = new Map<number, Uint8Array>();
    for (const e of entries) bySeq.set(e.seq, e.digest.slice());
    const m: StoredManifest = { first: entries[0]!.seq, last: entries[entries.length - 1]!.seq, bySeq, until: now + this.holdMs, id };
    const list = this.#manifests.get(stream) ?? [];
    list.push(m);
    this.#manifests.set(stream, list);
    if (!(m.last <= (this.#highest.get(stream) ?? -1))) this.#highest.set(stream, m.last);
    this.#manifestIds.add(id);
    this.#manifestCount++;
    while (this.#manifestCount > this.maxManifests) this.#dropOldestManifest();
    const matched: HeldAmortised<M>[] = [];
    const forged: HeldAmortised<M>[] = [];
    // One pass that keeps what the manifest does not cover (a batch settles up to 1,024 held messages at once:
    // removing them one by one would move the rest of the list each time).
    const held = this.#held.get(stream);
    if (held !== undefined) {
      const kept: HeldAmortised<M>[] = [];
      for (const h of held) {
        if (h.seq < m.first || h.seq > m.last) {
          kept.push(h);
          continue;
        }
        this.#heldCount--;
        this.#countSeq(stream, h.seq, -1);
        const d = bySeq.get(h.seq);
        if (d !== undefined && equalBytes(d, h.digest)) matched.push(h);
        else forged.push(h);
      }
      if (kept.length > 0) this.#held.set(stream, kept);
      else this.#held.delete(stream);
    }
    matched.sort((a, b) => a.seq - b.seq);
    return { matched, forged };
  }

  #dropOldestManifest(): void {
    let oldestKey: string | undefined;
    let oldest: StoredManifest | undefined;
    for (const [k, l] of this.#manifests) if (l.length && (!oldest || l[0]!.until < oldest.until)) [oldestKey, oldest] = [k, l[0]];
    if (!oldest || oldestKey === undefined) return;
    this.#dropManifest(oldestKey, oldest);
  }

  #dropManifest(stream: string, m: StoredManifest): void {
    const l = this.#manifests.get(stream)!;
    l.splice(l.indexOf(m), 1);
    if (l.length === 0) {
      this.#manifests.delete(stream);
      this.#highest.delete(stream);
    }
    this.#manifestIds.delete(m.id);
    this.#manifestCount--;
  }

  /** Forgets manifests older than holdMs; returns held messages older than holdMs (reject them). */
  expire(now: number): HeldAmortised<M>[] {
    for (const [k, l] of [...this.#manifests]) for (const m of [...l]) if (now > m.until) this.#dropManifest(k, m);
    const out: HeldAmortised<M>[] = [];
    for (const l of [...this.#held.values()]) for (const h of [...l]) if (now - h.heldAt >= this.holdMs) out.push(h);
    for (const h of out) this.#remove(h);
    return out;
  }

  /** Drops everything (returns the held messages, to wipe). */
  clear(): HeldAmortised<M>[] {
    const out = [...this.#held.values()].flat();
    this.#held.clear();
    this.#heldSeqs.clear();
    this.#heldCount = 0;
    this.#manifests.clear();
    this.#highest.clear();
    this.#manifestIds.clear();
    this.#manifestCount = 0;
    return out;
  }
}
