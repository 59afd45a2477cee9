// Durable state behind one small interface: sequence high-water marks, replay
// windows, epoch keys, trust state. In memory and on file now; a browser
// (IndexedDB) and a Redis implementation come later.

export interface Storage {
  /** The value stored under `key`, or undefined. */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * Stores `value` under `key` durably and atomically: after a crash (even
   * kill -9 or power loss), get() returns either the old or the new value,
   * never a torn one, and once the promise resolves the new value survives.
   */
  set(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys that start with `prefix`, in lexicographic order. */
  keys(prefix: string): Promise<string[]>;
}
