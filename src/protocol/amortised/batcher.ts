// Amortised mode, the publisher's side: which sealed messages go into which
// manifest. Pure bookkeeping (no cryptography, no I/O): the KeyManager adds
// every message it seals in amortised mode and takes the batches that are due,
// to sign their manifests (amortised-manager.ts). Called on every publish, so
// the usual answer allocates nothing.

import type { ManifestEntry } from './manifest.js';

interface OpenBatch {
  readonly channel: string;
  readonly topic: string;
  readonly epoch: number;
  readonly openedAt: number;
  readonly entries: ManifestEntry[];
}

/** A batch whose manifest must be signed and published on `topic`. */
export interface ClosedBatch {
  readonly channel: string;
  readonly topic: string;
  readonly epoch: number;
  readonly entries: readonly ManifestEntry[];
}

const NOTHING_DUE: readonly ClosedBatch[] = Object.freeze([]);

/**
 * Publisher-side batching, one open batch per (topic, epoch). Sequence
 * numbers of one channel grow, so successive batches of one topic cover
 * disjoint, increasing ranges.
 */
export class AmortisedBatcher {
  readonly #open = new Map<string, OpenBatch>();
  readonly #closed: ClosedBatch[] = [];

  constructor(
    readonly maxBatch: number,
    readonly maxDelayMs: number,
  ) {}

  /** Records a sealed message; closes its batch when full (or the batch of an earlier epoch of the topic). */
  add(channel: string, topic: string, epoch: number, seq: number, digest: Uint8Array, now: number): void {
    let b = this.#open.get(topic);
    if (b && (b.epoch !== epoch || b.channel !== channel)) {
      this.#closed.push(b);
      b = undefined;
    }
    if (!b) {
      b = { channel, topic, epoch, openedAt: now, entries: [] };
      this.#open.set(topic, b);
    }
    b.entries.push({ seq, digest });
    if (b.entries.length >= this.maxBatch) {
      this.#open.delete(topic);
      this.#closed.push(b);
    }
  }

  /** Closed batches, and open ones at least maxDelayMs old (every open one with `all`). */
  take(now: number, all = false): readonly ClosedBatch[] {
    // Deleting the entry being visited is safe in a Map iteration. Called after every publish, so the
    // usual answer (nothing due) allocates nothing.
    for (const [topic, b] of this.#open) {
      if (all || now - b.openedAt >= this.maxDelayMs) {
        this.#open.delete(topic);
        this.#closed.push(b);
      }
    }
    return this.#closed.length === 0 ? NOTHING_DUE : this.#closed.splice(0);
  }

  /** Messages sealed whose manifest is not signed yet. */
  get pending(): number {
    let n = 0;
    for (const b of this.#open.values()) n += b.entries.length;
    for (const b of this.#closed) n += b.entries.length;
    return n;
  }

  clear(): void {
    this.#open.clear();
    this.#closed.length = 0;
  }
}
