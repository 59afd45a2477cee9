// What a memory-only ReplayGuard remembers about streams it had to evict.
//
// Dropping a stream's window would let its old messages be replayed. Instead,
// each evicted stream raises a timestamp floor in one of a fixed number of
// buckets (chosen by a hash of the stream id): a message for a stream that is
// not in memory is rejected if its timestamp is at or below its bucket's
// floor. The guard records as floor the newest timestamp it accepted on the
// stream, or, if it was not told every timestamp, the eviction time plus the
// allowed clock skew (a message accepted before the eviction at time E carried
// a timestamp <= its acceptance time + skew <= E + skew). Either way every
// message accepted before the eviction is at or below the floor. Memory stays
// fixed; a hash collision only delays another stream, it never lets a replay
// through.

/** 16,384 buckets: 128 KiB, few collisions for the default 10,000 resident streams. */
export const FLOOR_BUCKETS = 16_384;

/** FNV-1a over UTF-16 code units: fast, stable, not cryptographic (collisions cost availability only). */
function bucketOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % FLOOR_BUCKETS;
}

export class EvictionFloor {
  readonly #floors = new Float64Array(FLOOR_BUCKETS).fill(-Infinity);

  /** Records that every message `id` accepted had a timestamp <= `floorMs`. */
  record(id: string, floorMs: number): void {
    const b = bucketOf(id);
    if (floorMs > this.#floors[b]!) this.#floors[b] = floorMs;
  }

  /** Timestamps at or below this may be replays for `id` (-Infinity if nothing was evicted there). */
  get(id: string): number {
    return this.#floors[bucketOf(id)]!;
  }
}
