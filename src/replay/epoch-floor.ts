// The epoch floors of a ReplayGuard and their persistence: per (sender,
// channel), the lowest epoch that may still be accepted, raised by
// forgetEpoch() when it drops the windows of the epochs below. A floor is
// stored beside the windows (when the guard has storage) and read back by
// ReplayGuard.open(), so a forgotten epoch stays refused after a restart.
//
// Not to be confused with eviction-floor.ts: that one is a timestamp floor of
// a memory-only guard, per bucket of evicted streams; this one is an epoch
// number per (sender, channel), exact, and durable.

import { StorageError } from '../errors.js';
import type { Storage } from '../storage/types.js';
import { STREAM_PREFIX } from './stream-id.js';

/** Storage keys of the epoch floors (beside the windows, which live under STREAM_PREFIX). */
const FLOOR_PREFIX = 'replay-floor/v1/';

function encodeFloor(epoch: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(epoch));
  return out;
}

function decodeFloor(bytes: Uint8Array): number | undefined {
  if (bytes.length !== 8) return undefined;
  const value = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

export class EpochFloors {
  /** Per (sender, channel) stream prefix: epochs below were forgotten (forgetEpoch) and stay refused. */
  readonly #floors = new Map<string, number>();
  readonly #storage: Storage | undefined;
  readonly #namespace: string;

  /** `namespace` prefixes every storage key, as it does the guard's windows. */
  constructor(storage: Storage | undefined, namespace: string) {
    this.#storage = storage;
    this.#namespace = namespace;
  }

  /** The lowest epoch of the streams under `prefix` that may still be accepted (0: none was forgotten). */
  get(prefix: string): number {
    return this.#floors.get(prefix) ?? 0;
  }

  /**
   * Sets the floor of `prefix` to `epoch` in memory at once, and returns the write that makes it durable
   * (undefined without storage). The guard only ever raises a floor.
   */
  raise(prefix: string, epoch: number): Promise<void> | undefined {
    this.#floors.set(prefix, epoch);
    return this.#storage?.set(this.#namespace + FLOOR_PREFIX + prefix.slice(STREAM_PREFIX.length), encodeFloor(epoch));
  }

  /**
   * Reads every persisted floor into memory (no-op without storage).
   * @throws StorageError CORRUPT for a stored value that is not an epoch floor
   */
  async load(): Promise<void> {
    const storage = this.#storage;
    if (!storage) return;
    const ns = this.#namespace;
    for (const key of await storage.keys(ns + FLOOR_PREFIX)) {
      const value = await storage.get(key);
      const floor = value === undefined ? undefined : decodeFloor(value);
      if (floor === undefined) throw new StorageError('CORRUPT', `replay guard: ${key} is not an epoch floor`);
      this.#floors.set(STREAM_PREFIX + key.slice((ns + FLOOR_PREFIX).length), floor);
    }
  }
}
