// One stream as a ReplayGuard holds it in memory: its window, how far the
// window is durable, the write in flight, and whether an accept() is working
// on it (such a stream is not evicted); and the write that makes its window
// durable, which accept() awaits before it resolves. Why write-through, and
// why writes are coalesced and never reordered: guard.ts, "Persistence".

import type { Storage } from '../storage/types.js';
import type { ReplayWindow } from './window.js';

const noop = (): void => {};

export interface ResidentStream {
  readonly window: ReplayWindow;
  /** Bumped by every accepted sequence number. */
  version: number;
  /** Highest version known to be durable. */
  savedVersion: number;
  /** The write in flight, if any. */
  writing: Promise<void> | undefined;
  /** accept() calls working on this stream; it is not evicted while > 0. */
  busy: number;
  /** Newest timestamp accepted, or undefined once an accept() came without one (memory-only floors). */
  maxTimestamp: number | undefined;
  /** Memory-only: timestamps at or below this may replay an earlier, evicted incarnation of the stream. */
  readonly floor: number;
}

export const newStream = (window: ReplayWindow, floor = -Infinity): ResidentStream => ({
  window,
  floor,
  version: 0,
  savedVersion: 0,
  writing: undefined,
  busy: 0,
  maxTimestamp: -Infinity,
});

/** Resolves once a version >= `target` of the stream is durable under `storageKey`. One write in flight per stream. */
export async function persistStream(storage: Storage, storageKey: string, stream: ResidentStream, target: number): Promise<void> {
  while (stream.savedVersion < target) {
    if (stream.writing) {
      await stream.writing.catch(noop);
      continue;
    }
    const version = stream.version;
    const write: Promise<void> = storage
      .set(storageKey, stream.window.serialize())
      .then(() => {
        if (version > stream.savedVersion) stream.savedVersion = version;
      })
      .finally(() => {
        if (stream.writing === write) stream.writing = undefined;
      });
    stream.writing = write;
    await write;
  }
}
