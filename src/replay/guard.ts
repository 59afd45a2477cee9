// Replay protection for every stream a subscriber receives: one ReplayWindow
// per (sender, channel, epoch), a timestamp bound, optional persistence, and a
// memory bound.
//
// How the protocol uses it, per received message:
//   1. parse; `guard.check(key, seq, timestamp)` (sync, changes no replay
//      state): reject cheaply before spending time on a signature.
//   2. verify the signature / decrypt.
//   3. `await guard.accept(key, seq, timestamp)`: re-checks (another copy may
//      have been accepted meanwhile), records, and with storage returns only
//      once the new state is durable. Deliver to the application only after it
//      resolves; if it throws (SecurityError DUPLICATE/REPLAY, StorageError),
//      drop the message.
//
// Persistence is write-through: accept() awaits storage.set of the stream's
// window before resolving. A crash after persisting but before the
// application saw the message loses that message (at most once); the other
// order could deliver it twice after a restart, which is what the guard
// exists to prevent. Writes of one stream are coalesced (one in flight; the
// next one carries every change since) and never reordered.
//
// Memory: at most `maxStreams` windows stay resident (least recently accepted
// evicted first). With storage an evicted window is reloaded by accept().
// Without storage, see eviction-floor.ts: evicted streams leave a timestamp
// floor, so no replay gets in.
//
// Restarts: a guard whose state lives in memory only (no storage, or a
// MemoryStorage) forgets every window when its process ends, and the broker
// could then replay anything younger than maxAgeMs once more. So such a guard
// refuses every message timestamped before its state began, minus
// clockSkewMs (TOO_OLD, "the restart rule"), as OSCORE does after a reboot:
// whatever a previous process accepted is refused, and live traffic flows at
// once. The state of a MemoryStorage begins when the first guard opens on it
// (per namespace; a second guard on the same MemoryStorage object, in the same
// process, continues that state). A durable storage has no such floor.
// `stateSinceMs` sets it by hand (a custom Storage that does not survive a
// restart; 0 for none).

import { aint, astring, atype, auint } from '../../bindings/assert-sdk.js';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { SecurityError, StorageError } from '../errors.js';
import type { Storage } from '../storage/types.js';
import { EpochFloors } from './epoch-floor.js';
import { EvictionFloor } from './eviction-floor.js';
import { newStream, persistStream, type ResidentStream } from './resident-stream.js';
import { defaultStateSince, readClock } from './state-since.js';
import type { StreamKey } from './stream-id.js';
import { STREAM_PREFIX, epochOf, streamId, streamPrefix } from './stream-id.js';
import { DEFAULT_WINDOW_SIZE, MAX_WINDOW_SIZE, MIN_WINDOW_SIZE, ReplayWindow } from './window.js';

export type { StreamKey } from './stream-id.js';

export type ReplayCode = 'DUPLICATE' | 'REPLAY' | 'TOO_OLD' | 'FROM_FUTURE';
export type ReplayVerdict = { readonly ok: true } | { readonly ok: false; readonly code: ReplayCode; readonly detail?: string };

export interface ReplayGuardOptions {
  /**
   * Where windows persist. Without it, or with a MemoryStorage, state lives in memory only and is lost on
   * restart: then the restart rule applies (see stateSinceMs).
   */
  readonly storage?: Storage;
  /**
   * Since when (ms) this guard's replay state is complete: messages timestamped before this minus clockSkewMs
   * are refused (TOO_OLD), since a previous process may have accepted them. Default: without storage, when the
   * guard opens; with a MemoryStorage, when the first guard opened on that object (in this namespace); with
   * any other storage (durable), none. Set it for a custom Storage that does not survive a restart; 0 for none.
   */
  readonly stateSinceMs?: number;
  readonly clock?: Clock;
  /** Sequence numbers remembered per stream (64 .. 2^20). Default 1024. */
  readonly windowSize?: number;
  /** Oldest acceptable timestamp, relative to now. Default 5 minutes. */
  readonly maxAgeMs?: number;
  /** How far ahead of now a timestamp may be. Default 30 s. */
  readonly clockSkewMs?: number;
  /** Streams kept in memory; the least recently accepted is evicted beyond it. Default 10,000. */
  readonly maxStreams?: number;
  /**
   * Prefix of this guard's storage keys (default ''): windows are stored under
   * `${namespace}replay/v1/...`. Guards sharing one Storage need distinct ones.
   */
  readonly namespace?: string;
}

export interface ReplayStats {
  readonly duplicates: number;
  readonly replays: number;
  readonly tooOld: number;
  readonly fromFuture: number;
  readonly accepted: number;
}

export const DEFAULT_MAX_AGE_MS = 5 * 60_000;
export const DEFAULT_CLOCK_SKEW_MS = 30_000;
export const DEFAULT_MAX_STREAMS = 10_000;

const OK: ReplayVerdict = Object.freeze({ ok: true });

const PRELOAD_BATCH = 32;
const noop = (): void => {};

export class ReplayGuard {
  readonly #storage: Storage | undefined;
  readonly #namespace: string;
  /** Per (sender, channel): epochs below were forgotten (forgetEpoch) and stay refused, durably with storage. */
  readonly #epochFloors: EpochFloors;
  readonly #clock: Clock;
  readonly #windowSize: number;
  readonly #maxAgeMs: number;
  readonly #clockSkewMs: number;
  readonly #maxStreams: number;
  /** Resident streams, least recently accepted first. */
  readonly #streams = new Map<string, ResidentStream>();
  readonly #loading = new Map<string, Promise<void>>();
  /** Memory-only guards: floors left by evicted streams. */
  readonly #floor: EvictionFloor | undefined;
  /** The restart rule: timestamps below this are refused (stateSince - clockSkewMs; -Infinity with durable storage). */
  readonly #restartFloor: number;
  readonly #restartDetail: string;
  #latestNow = -Infinity;
  readonly #counts = { duplicates: 0, replays: 0, tooOld: 0, fromFuture: 0, accepted: 0 };

  private constructor(opts: ReplayGuardOptions, stateSince: number | undefined) {
    this.#storage = opts.storage;
    this.#namespace = opts.namespace ?? '';
    this.#clock = opts.clock ?? systemClock;
    this.#windowSize = opts.windowSize ?? DEFAULT_WINDOW_SIZE;
    this.#maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.#clockSkewMs = opts.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
    this.#maxStreams = opts.maxStreams ?? DEFAULT_MAX_STREAMS;
    this.#floor = opts.storage ? undefined : new EvictionFloor();
    this.#epochFloors = new EpochFloors(opts.storage, this.#namespace);
    this.#restartFloor = stateSince === undefined ? -Infinity : stateSince - this.#clockSkewMs;
    this.#restartDetail =
      `timestamped more than clockSkewMs before this receiver's replay state began (${stateSince} ms): ` +
      'that state is in memory only, and a restart may have forgotten that the message was accepted (the restart rule)';
  }

  /**
   * Creates a guard; with `storage`, loads up to `maxStreams` persisted windows
   * (others load on demand in accept()). A corrupt persisted window is skipped
   * here and makes accept() for that stream throw StorageError until removed.
   * @throws RangeError for a bad option
   */
  static async open(opts: ReplayGuardOptions = {}): Promise<ReplayGuard> {
    if (opts.clock !== undefined) atype(opts.clock, 'function', 'clock');
    if (opts.namespace !== undefined) astring(opts.namespace, 'namespace');
    if (opts.windowSize !== undefined) aint(opts.windowSize, MIN_WINDOW_SIZE, MAX_WINDOW_SIZE, 'windowSize');
    if (opts.maxAgeMs !== undefined) auint(opts.maxAgeMs, 'maxAgeMs');
    if (opts.clockSkewMs !== undefined) auint(opts.clockSkewMs, 'clockSkewMs');
    if (opts.maxStreams !== undefined) aint(opts.maxStreams, 1, Number.MAX_SAFE_INTEGER, 'maxStreams');
    if (opts.stateSinceMs !== undefined) auint(opts.stateSinceMs, 'stateSinceMs');
    const clock = opts.clock ?? systemClock;
    const stateSince = opts.stateSinceMs ?? defaultStateSince(opts.storage, opts.namespace ?? '', clock);
    const guard = new ReplayGuard(opts, stateSince);
    await guard.#preload();
    return guard;
  }

  /**
   * Classifies a message before it is authenticated. Changes no replay state
   * (only the counters of stats()). A stream that is not in memory but may be
   * in storage passes the sequence test here; accept() decides.
   * Order: sequence (DUPLICATE, REPLAY), then timestamp (FROM_FUTURE, TOO_OLD: older than maxAgeMs, or
   * before a memory-only guard's state began, with a detail), then an evicted stream's floor (REPLAY).
   * @throws TypeError/RangeError for a malformed key, seq or timestamp (the parser should have rejected them)
   */
  check(key: StreamKey, seq: number, timestampMs: number): ReplayVerdict {
    const id = streamId(key);
    auint(seq, 'seq');
    auint(timestampMs, 'timestampMs');
    if (key.epoch < this.epochFloor(key.sender, key.channel)) return this.#reject('REPLAY');
    const stream = this.#streams.get(id);
    if (stream) {
      const verdict = stream.window.check(seq);
      if (verdict === 'duplicate') return this.#reject('DUPLICATE');
      if (verdict === 'replay') return this.#reject('REPLAY');
    }
    const now = this.#now();
    if (timestampMs > now + this.#clockSkewMs) return this.#reject('FROM_FUTURE');
    if (timestampMs < now - this.#maxAgeMs) return this.#reject('TOO_OLD');
    if (timestampMs < this.#restartFloor) return this.#reject('TOO_OLD', this.#restartDetail);
    if (timestampMs <= (stream ? stream.floor : this.#floorOf(id))) return this.#reject('REPLAY');
    return OK;
  }

  /**
   * Records `seq` as accepted, after the message authenticated, and (with
   * storage) resolves once that is durable. Deliver only after it resolves.
   * Pass the message's `timestampMs` too: a memory-only guard uses it for
   * streams it had to evict (without it, an evicted stream's messages are
   * refused until clockSkewMs after the eviction, and a copy racing the
   * eviction cannot be recognised).
   * @throws SecurityError DUPLICATE/REPLAY if `seq` is no longer fresh, TOO_OLD if `timestampMs` is before a
   *   memory-only guard's state began (the restart rule); StorageError if loading or persisting failed.
   *   Either way, drop the message. (After a failed write the number stays marked in memory: fail closed.)
   */
  async accept(key: StreamKey, seq: number, timestampMs?: number): Promise<void> {
    const id = streamId(key);
    auint(seq, 'seq');
    if (timestampMs !== undefined) auint(timestampMs, 'timestampMs');
    if (key.epoch < this.epochFloor(key.sender, key.channel)) {
      throw new SecurityError('REPLAY', { sender: key.sender, detail: `epoch ${key.epoch} was retired (its replay state is gone)` });
    }
    for (;;) {
      let stream = this.#streams.get(id);
      if (!stream && this.#storage) {
        await this.#load(id);
        continue; // it may have been evicted again before this continuation ran
      }
      const floor = stream ? stream.floor : this.#floorOf(id);
      if (timestampMs !== undefined && timestampMs <= floor) {
        this.#reject('REPLAY');
        throw new SecurityError('REPLAY', { sender: key.sender, detail: `${id} was evicted after this message's time` });
      }
      if (!stream) {
        stream = newStream(new ReplayWindow(this.#windowSize), floor);
        this.#streams.set(id, stream);
      }
      const verdict = stream.window.check(seq);
      if (verdict !== 'fresh') {
        const code = verdict === 'duplicate' ? 'DUPLICATE' : 'REPLAY';
        this.#reject(code);
        throw new SecurityError(code, {
          sender: key.sender,
          detail: `sequence number ${seq} of ${id} ${verdict === 'duplicate' ? 'was already accepted' : 'is below the replay window'}`,
        });
      }
      // The restart rule after the sequence verdict, in check()'s order (a copy of an accepted message stays DUPLICATE).
      if (timestampMs !== undefined && timestampMs < this.#restartFloor) {
        this.#reject('TOO_OLD');
        throw new SecurityError('TOO_OLD', { sender: key.sender, detail: this.#restartDetail });
      }
      stream.window.accept(seq);
      stream.version++;
      if (timestampMs === undefined) stream.maxTimestamp = undefined;
      else if (stream.maxTimestamp !== undefined && timestampMs > stream.maxTimestamp) stream.maxTimestamp = timestampMs;
      this.#streams.delete(id); // most recently used goes last
      this.#streams.set(id, stream);
      stream.busy++;
      try {
        this.#evict();
        if (this.#storage) await persistStream(this.#storage, this.#namespace + id, stream, stream.version);
      } finally {
        stream.busy--;
      }
      this.#counts.accepted++;
      return;
    }
  }

  /**
   * Loads a stream's persisted window into memory (no-op if resident or
   * memory-only), so that check() is exact for it. Optional.
   */
  async preload(key: StreamKey): Promise<void> {
    const id = streamId(key);
    if (this.#storage && !this.#streams.has(id)) await this.#load(id);
  }

  /**
   * Drops the state of every epoch < `epochBelow` of (sender, channel), in
   * memory and in storage. The protocol must already reject those epochs
   * (their keys are gone: UNKNOWN_EPOCH / STALE_EPOCH); the guard no longer can.
   */
  async forgetEpoch(sender: string, channel: string, epochBelow: number): Promise<void> {
    const prefix = streamPrefix(sender, channel);
    auint(epochBelow, 'epochBelow');
    // The windows below go away, so the epochs below must never be accepted
    // again: a durable floor says so, even after a restart (a late grant for a
    // forgotten epoch would otherwise reopen it to replays).
    if (epochBelow > this.#epochFloors.get(prefix)) await this.#epochFloors.raise(prefix, epochBelow);
    const old = (id: string): boolean => {
      const epoch = epochOf(id, prefix);
      return epoch !== undefined && epoch < epochBelow;
    };
    for (const [id, stream] of [...this.#streams]) {
      if (!id.startsWith(prefix) || !old(id)) continue;
      this.#streams.delete(id);
      // Let writes in flight land first, so deleting below is final.
      while (stream.busy > 0 || stream.writing) await (stream.writing ?? Promise.resolve()).catch(noop);
    }
    if (!this.#storage) return;
    const ns = this.#namespace;
    for (const storageKey of await this.#storage.keys(ns + prefix)) {
      if (old(storageKey.slice(ns.length))) await this.#storage.delete(storageKey);
    }
  }

  /** The lowest epoch of (sender, channel) that may still be accepted: windows below it were forgotten. */
  epochFloor(sender: string, channel: string): number {
    return this.#epochFloors.get(streamPrefix(sender, channel));
  }

  /** Counters since open(): rejections by reason, and accepted messages. */
  stats(): ReplayStats {
    return { ...this.#counts };
  }

  /** Streams currently in memory. */
  get residentStreams(): number {
    return this.#streams.size;
  }

  #reject(code: ReplayCode, detail?: string): ReplayVerdict {
    if (code === 'DUPLICATE') this.#counts.duplicates++;
    else if (code === 'REPLAY') this.#counts.replays++;
    else if (code === 'TOO_OLD') this.#counts.tooOld++;
    else this.#counts.fromFuture++;
    return detail === undefined ? { ok: false, code } : { ok: false, code, detail };
  }

  #floorOf(id: string): number {
    return this.#floor ? this.#floor.get(id) : -Infinity;
  }

  #now(): number {
    const now = readClock(this.#clock);
    if (now > this.#latestNow) this.#latestNow = now;
    return now;
  }

  async #preload(): Promise<void> {
    const storage = this.#storage;
    if (!storage) return;
    const ns = this.#namespace;
    await this.#epochFloors.load();
    const ids = (await storage.keys(ns + STREAM_PREFIX)).slice(0, this.#maxStreams).map((k) => k.slice(ns.length));
    for (let i = 0; i < ids.length; i += PRELOAD_BATCH) {
      await Promise.all(
        ids.slice(i, i + PRELOAD_BATCH).map(async (id) => {
          try {
            await this.#load(id);
          } catch (err) {
            if (!(err instanceof StorageError)) throw err;
            // Corrupt: leave it out; accept() for this stream will report it.
          }
        }),
      );
    }
  }

  /** Makes `id` resident from storage (deduplicating concurrent loads). */
  #load(id: string): Promise<void> {
    let pending = this.#loading.get(id);
    if (!pending) {
      pending = this.#loadOnce(id).finally(() => this.#loading.delete(id));
      this.#loading.set(id, pending);
    }
    return pending;
  }

  async #loadOnce(id: string): Promise<void> {
    const bytes = await this.#storage!.get(this.#namespace + id);
    if (this.#streams.has(id)) return;
    let window: ReplayWindow;
    try {
      window = bytes ? ReplayWindow.deserialize(bytes, this.#windowSize) : new ReplayWindow(this.#windowSize);
    } catch (err) {
      throw new StorageError('CORRUPT', `replay state ${id} is unreadable; delete it to accept this stream again`, {
        cause: err,
      });
    }
    this.#streams.set(id, newStream(window));
    this.#evict();
  }

  /** Evicts least recently accepted idle streams beyond maxStreams. */
  #evict(): void {
    if (this.#streams.size <= this.#maxStreams) return;
    for (const [id, stream] of this.#streams) {
      if (this.#streams.size <= this.#maxStreams) return;
      if (stream.busy > 0 || stream.writing) continue;
      this.#streams.delete(id);
      if (this.#floor) {
        const floor = stream.maxTimestamp ?? Math.max(this.#latestNow, this.#now()) + this.#clockSkewMs;
        this.#floor.record(id, floor);
      }
    }
  }
}
