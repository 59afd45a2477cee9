// Amortised mode, the subscriber's side: amortised messages decrypted but not
// yet authenticated, held until a verified manifest lists their digest, and
// the manifests verified recently, for messages that arrive after theirs. Pure
// bookkeeping (no cryptography, no I/O), bounded in number, bytes and time;
// the KeyManager decrypts, verifies and decides (amortised-manager.ts).
//
// Held messages are unauthenticated: any member of a channel holds its epoch
// key and can seal messages in the publisher's name that decrypt. The bounds
// are therefore kept per lane, a (sender, key epoch, channel), the unit a
// publisher numbers its messages in (one counter for all topics and epochs of
// a channel), so that what one channel's members do costs only that channel,
// and room is made by rejecting the entry farthest ahead first (the highest
// sequence number; of equal ones, the latest to arrive): a publisher's honest
// messages are the next few numbers after the last batch, so forgeries numbered
// above them go before any of them. A lane's base is the highest number a
// verified manifest of it listed; at most maxHeldAhead messages numbered more
// than maxAhead above it are held at once. docs/PROTOCOL.md, "Amortised mode".

import { equalBytes } from '../../wire/bytes.js';
import { copyKey, heapPop, heapPush, hex, insertSorted, pull, push, rebuild, type HeldAmortised, type Lane, type Slot } from './lane.js';
import type { ManifestEntry } from './manifest.js';

export type { HeldAmortised } from './lane.js';


/** The hold buffer's bounds besides maxHeld (the receiver's defaults: none of them binds). */
export interface HoldBounds {
  /** Held messages per lane. */
  readonly maxHeldPerChannel: number;
  /** Bytes held over all lanes. */
  readonly maxHeldBytes: number;
  /** Bytes held per lane. */
  readonly maxHeldBytesPerChannel: number;
  /** A message numbered more than this above its lane's base is far ahead. */
  readonly maxAhead: number;
  /** Far-ahead messages held per lane. */
  readonly maxHeldAhead: number;
}

/** Why the hold bounds refuse or reject a message (the caller words it; TOO_LARGE). */
export type HoldBound = 'ahead' | 'lane' | 'lane-bytes' | 'held' | 'held-bytes' | 'size';

/** A held message rejected to keep the bounds, and which bound. */
export interface Evicted<M> {
  readonly held: HeldAmortised<M>;
  readonly bound: HoldBound;
}

interface StoredManifest {
  readonly first: number;
  readonly last: number;
  readonly bySeq: Map<number, Uint8Array>;
  readonly until: number;
  readonly id: string;
  readonly stream: string;
  readonly lane: string;
}


export type Coverage = 'match' | 'mismatch' | 'uncovered';

export const amortisedStreamId = (sender: string, channel: string, topic: string, epoch: number): string => `${sender}\n${channel}\n${topic}\n${epoch}`;

/** A publisher's numbering unit: one sequence counter per (sender, key epoch, channel). */
export const amortisedLaneId = (sender: string, senderKeyEpoch: number, channel: string): string => `${sender}\n${senderKeyEpoch}\n${channel}`;

/** Lanes whose base is remembered (the least recently raised forgotten first): only verified manifests make one. */
const MAX_BASES = 16_384;


const UNBOUNDED: HoldBounds = Object.freeze({
  maxHeldPerChannel: Number.MAX_SAFE_INTEGER,
  maxHeldBytes: Number.MAX_SAFE_INTEGER,
  maxHeldBytesPerChannel: Number.MAX_SAFE_INTEGER,
  maxAhead: Number.MAX_SAFE_INTEGER,
  maxHeldAhead: Number.MAX_SAFE_INTEGER,
});

/**
 * Subscriber-side bookkeeping (no cryptography): held messages and recently
 * verified manifests, both bounded in number and time, held messages in bytes
 * too. Only verified manifests may be added; held messages are
 * unauthenticated and never delivered unless a manifest lists their digest.
 */
export class AmortisedReceiver<M> {
  /** Per stream, the held copies by sequence number (in arrival order). */
  readonly #streams = new Map<string, Map<number, Set<Slot<M>>>>();
  /** The keys of the held copies. */
  readonly #keys = new Set<string>();
  readonly #lanes = new Map<string, Lane<M>>();
  #heldCount = 0;
  #heldBytes = 0;
  #order = 0;
  readonly #manifests = new Map<string, StoredManifest[]>();
  /** Per stream, no stored manifest covers a number above this (a message usually arrives before its manifest). */
  readonly #highest = new Map<string, number>();
  /** Per lane, what its stored manifests list, by sequence number (one honest message per number and lane). */
  readonly #listed = new Map<string, Map<number, { readonly m: StoredManifest; readonly digest: Uint8Array }>>();
  /** Per lane, the highest number a verified manifest listed (kept after the manifest is forgotten). */
  readonly #bases = new Map<string, number>();
  #manifestCount = 0;
  readonly #manifestIds = new Set<string>();
  readonly bounds: HoldBounds;

  constructor(
    readonly holdMs: number,
    readonly maxHeld: number,
    readonly maxManifests: number,
    bounds: Partial<HoldBounds> = {},
  ) {
    this.bounds = Object.freeze({ ...UNBOUNDED, ...bounds });
  }

  get heldCount(): number {
    return this.#heldCount;
  }

  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Held messages and bytes of a lane, and how many of them are far ahead. */
  laneHeld(lane: string): { count: number; bytes: number; ahead: number } {
    const l = this.#lanes.get(lane);
    return { count: l?.count ?? 0, bytes: l?.bytes ?? 0, ahead: l?.ahead.length ?? 0 };
  }

  /** The highest sequence number a verified manifest of `lane` listed (undefined before the first). */
  base(lane: string): number | undefined {
    return this.#bases.get(lane);
  }

  /** What the stored manifests say about (stream, seq, digest); a number another stream of the lane lists is a mismatch. */
  coverage(stream: string, seq: number, digest: Uint8Array, lane: string = stream): Coverage {
    const listed = this.#listed.get(lane)?.get(seq);
    if (listed !== undefined && listed.m.stream === stream) return equalBytes(listed.digest, digest) ? 'match' : 'mismatch';
    const top = this.#highest.get(stream);
    if (top !== undefined && seq <= top) {
      for (const m of this.#manifests.get(stream) ?? []) {
        if (seq < m.first || seq > m.last) continue;
        const d = m.bySeq.get(seq);
        return d !== undefined && equalBytes(d, digest) ? 'match' : 'mismatch';
      }
    }
    // Listed for another topic or epoch: the publisher numbered another message with it.
    return listed !== undefined ? 'mismatch' : 'uncovered';
  }

  /** True if a copy with the same digest is held already. */
  isHeld(stream: string, seq: number, digest: Uint8Array): boolean {
    return this.#streams.get(stream)?.has(seq) === true && this.#keys.has(copyKey(stream, seq, digest));
  }

  /**
   * Whether holding a message of `lane` numbered `seq`, of `size` bytes,
   * would only reject it again at once (it would be the first to go): then
   * the caller refuses it before decrypting it. Undefined if it may be held.
   * The bound over all lanes is not anticipated (hold() keeps it).
   */
  refusal(lane: string, seq: number, size = 0): HoldBound | undefined {
    const b = this.bounds;
    if (size > b.maxHeldBytesPerChannel || size > b.maxHeldBytes) return 'size';
    const l = this.#lanes.get(lane);
    const base = this.#bases.get(lane);
    if (base !== undefined && seq > base + b.maxAhead && (l?.ahead.length ?? 0) >= b.maxHeldAhead) {
      const top = l?.ahead[l.ahead.length - 1];
      if (top === undefined || seq >= top.h.seq) return 'ahead';
    }
    if (l === undefined) return undefined;
    const first = this.#top(l);
    if (first === undefined || seq < first.h.seq) return undefined;
    if (l.count >= b.maxHeldPerChannel) return 'lane';
    if (l.bytes + size > b.maxHeldBytesPerChannel) return 'lane-bytes';
    return undefined;
  }

  /** Holds a message; returns those rejected to stay within the bounds (it may be one of them), farthest ahead first. */
  hold(h: HeldAmortised<M>): Evicted<M>[] {
    const laneId = h.lane ?? h.stream;
    if ((h.size ?? 0) > Math.min(this.bounds.maxHeldBytesPerChannel, this.bounds.maxHeldBytes)) return [{ held: h, bound: 'size' }];
    let lane = this.#lanes.get(laneId);
    if (lane === undefined) {
      lane = { id: laneId, count: 0, bytes: 0, bySeq: new Map(), heap: [], ahead: [] };
      this.#lanes.set(laneId, lane);
    }
    const slot: Slot<M> = { h, key: copyKey(h.stream, h.seq, h.digest), lane, size: h.size ?? 0, order: ++this.#order, live: true };
    this.#keys.add(slot.key);
    let bySeq = this.#streams.get(h.stream);
    if (bySeq === undefined) {
      bySeq = new Map();
      this.#streams.set(h.stream, bySeq);
    }
    push(bySeq, h.seq, slot);
    push(lane.bySeq, h.seq, slot);
    heapPush(lane.heap, slot);
    lane.count++;
    lane.bytes += slot.size;
    this.#heldCount++;
    this.#heldBytes += slot.size;
    const base = this.#bases.get(laneId);
    if (base !== undefined && h.seq > base + this.bounds.maxAhead) insertSorted(lane.ahead, slot);
    return this.#makeRoom(lane);
  }

  #makeRoom(lane: Lane<M>): Evicted<M>[] {
    const b = this.bounds;
    const out: Evicted<M>[] = [];
    const evict = (l: Lane<M>, bound: HoldBound): void => {
      const s = this.#top(l);
      if (s === undefined) throw new Error('AmortisedReceiver: a lane over its bounds holds nothing');
      this.#remove(s);
      out.push({ held: s.h, bound });
    };
    // The far-ahead messages are the lane's highest: the first of them to go is the lane's first to go.
    while (lane.ahead.length > b.maxHeldAhead) evict(lane, 'ahead');
    while (lane.count > b.maxHeldPerChannel) evict(lane, 'lane');
    while (lane.bytes > b.maxHeldBytesPerChannel) evict(lane, 'lane-bytes');
    // Over all lanes: the lane holding the most pays (count, then bytes).
    while (this.#heldCount > this.maxHeld) evict(this.#largest((l) => l.count), 'held');
    while (this.#heldBytes > b.maxHeldBytes) evict(this.#largest((l) => l.bytes), 'held-bytes');
    return out;
  }

  /** The lane with the most of `measure` (of equal ones, the first created). */
  #largest(measure: (l: Lane<M>) => number): Lane<M> {
    let best: Lane<M> | undefined;
    for (const l of this.#lanes.values()) if (best === undefined || measure(l) > measure(best)) best = l;
    return best!;
  }

  /** The lane's first to go (its highest sequence number; the latest of equal ones). */
  #top(l: Lane<M>): Slot<M> | undefined {
    const heap = l.heap;
    while (heap.length > 0 && !heap[0]!.live) heapPop(heap);
    return heap[0];
  }

  #remove(s: Slot<M>): void {
    if (!s.live) return;
    s.live = false;
    this.#keys.delete(s.key);
    const { h, lane } = s;
    const bySeq = this.#streams.get(h.stream)!;
    pull(bySeq, h.seq, s);
    if (bySeq.size === 0) this.#streams.delete(h.stream);
    pull(lane.bySeq, h.seq, s);
    if (lane.ahead.length > 0 && s.h.seq >= lane.ahead[0]!.h.seq) {
      const i = lane.ahead.lastIndexOf(s);
      if (i >= 0) lane.ahead.splice(i, 1);
    }
    lane.count--;
    lane.bytes -= s.size;
    this.#heldCount--;
    this.#heldBytes -= s.size;
    if (lane.count === 0) this.#lanes.delete(lane.id);
    else if (lane.heap.length > 2 * lane.count + 64) lane.heap = rebuild(lane);
  }

  /**
   * Adds a verified manifest of `stream` (in `lane`) and settles the held
   * messages it covers: `matched` in sequence order (deliver them), `forged`
   * (reject them as BAD_SIGNATURE): copies in its range that it does not list,
   * and copies of a number it lists held for another topic or epoch of the
   * lane. `signedDigest` is a hash of the bytes the manifest's signature
   * covers: a manifest whose digest is stored for `stream` already is
   * ignored, whatever its signature (a redelivered copy, or the same batch
   * signed again: Falcon signatures are randomised, so signature bytes do not
   * identify what was signed).
   */
  addManifest(stream: string, entries: readonly ManifestEntry[], signedDigest: Uint8Array, now: number, lane: string = stream): { matched: HeldAmortised<M>[]; forged: HeldAmortised<M>[] } {
    const id = `${stream}\n${hex(signedDigest)}`;
    if (this.#manifestIds.has(id)) return { matched: [], forged: [] };
    const bySeq = new Map<number, Uint8Array>();
    for (const e of entries) bySeq.set(e.seq, e.digest.slice());
    const m: StoredManifest = { first: entries[0]!.seq, last: entries[entries.length - 1]!.seq, bySeq, until: now + this.holdMs, id, stream, lane };
    const list = this.#manifests.get(stream) ?? [];
    list.push(m);
    this.#manifests.set(stream, list);
    if (!(m.last <= (this.#highest.get(stream) ?? -1))) this.#highest.set(stream, m.last);
    let listed = this.#listed.get(lane);
    if (listed === undefined) {
      listed = new Map();
      this.#listed.set(lane, listed);
    }
    for (const [seq, digest] of bySeq) if (!listed.has(seq)) listed.set(seq, { m, digest });
    this.#raiseBase(lane, m.last);
    this.#manifestIds.add(id);
    this.#manifestCount++;
    while (this.#manifestCount > this.maxManifests) this.#dropOldestManifest();
    const matched: HeldAmortised<M>[] = [];
    const forged: HeldAmortised<M>[] = [];
    const settled: Slot<M>[] = [];
    // This stream's copies in the manifest's range: listed with this digest, or forged.
    for (const [seq, copies] of this.#streams.get(stream) ?? []) {
      if (seq < m.first || seq > m.last) continue;
      const d = bySeq.get(seq);
      for (const s of copies) {
        settled.push(s);
        (d !== undefined && equalBytes(d, s.h.digest) ? matched : forged).push(s.h);
      }
    }
    // Copies of a listed number held for another topic or epoch of the lane: the number is taken.
    const laneState = this.#lanes.get(lane);
    if (laneState !== undefined) {
      for (const seq of bySeq.keys()) {
        for (const s of laneState.bySeq.get(seq) ?? []) {
          if (s.h.stream === stream) continue;
          settled.push(s);
          forged.push(s.h);
        }
      }
    }
    for (const s of settled) this.#remove(s);
    matched.sort((a, b) => a.seq - b.seq);
    return { matched, forged };
  }

  #raiseBase(lane: string, last: number): void {
    const before = this.#bases.get(lane);
    if (before !== undefined && last <= before) return;
    this.#bases.delete(lane);
    this.#bases.set(lane, last);
    if (this.#bases.size > MAX_BASES) this.#bases.delete(this.#bases.keys().next().value!);
    // A higher base: messages no longer more than maxAhead above it are not far ahead any more.
    const l = this.#lanes.get(lane);
    if (l === undefined) return;
    if (before === undefined) {
      for (const copies of l.bySeq.values()) for (const s of copies) if (s.h.seq > last + this.bounds.maxAhead) insertSorted(l.ahead, s);
      return;
    }
    let n = 0;
    while (n < l.ahead.length && l.ahead[n]!.h.seq <= last + this.bounds.maxAhead) n++;
    if (n > 0) l.ahead.splice(0, n);
  }

  #dropOldestManifest(): void {
    let oldest: StoredManifest | undefined;
    for (const l of this.#manifests.values()) if (l.length && (!oldest || l[0]!.until < oldest.until)) oldest = l[0];
    if (oldest) this.#dropManifest(oldest);
  }

  #dropManifest(m: StoredManifest): void {
    const l = this.#manifests.get(m.stream)!;
    l.splice(l.indexOf(m), 1);
    if (l.length === 0) {
      this.#manifests.delete(m.stream);
      this.#highest.delete(m.stream);
    }
    const listed = this.#listed.get(m.lane);
    if (listed !== undefined) {
      for (const seq of m.bySeq.keys()) if (listed.get(seq)?.m === m) listed.delete(seq);
      if (listed.size === 0) this.#listed.delete(m.lane);
    }
    this.#manifestIds.delete(m.id);
    this.#manifestCount--;
  }

  /** Forgets manifests older than holdMs; returns held messages older than holdMs (reject them). */
  expire(now: number): HeldAmortised<M>[] {
    for (const l of [...this.#manifests.values()]) for (const m of [...l]) if (now > m.until) this.#dropManifest(m);
    const out: Slot<M>[] = [];
    for (const bySeq of this.#streams.values()) for (const copies of bySeq.values()) for (const s of copies) if (now - s.h.heldAt >= this.holdMs) out.push(s);
    for (const s of out) this.#remove(s);
    return out.map((s) => s.h);
  }

  /** Drops everything (returns the held messages, to wipe). */
  clear(): HeldAmortised<M>[] {
    const out: HeldAmortised<M>[] = [];
    for (const bySeq of this.#streams.values()) for (const copies of bySeq.values()) for (const s of copies) out.push(s.h);
    this.#streams.clear();
    this.#keys.clear();
    this.#lanes.clear();
    this.#heldCount = 0;
    this.#heldBytes = 0;
    this.#manifests.clear();
    this.#highest.clear();
    this.#listed.clear();
    this.#bases.clear();
    this.#manifestIds.clear();
    this.#manifestCount = 0;
    return out;
  }
}

