// ReplayGuard: reasons, timestamps, restarts on real files, concurrency,
// eviction with and without storage, forgetting epochs.
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors.js';
import { ReplayGuard } from '../../src/replay/guard.js';
import { deliver, manualClock as clockAt, tempDirs } from './fixtures.js';
import { streamId } from '../../src/replay/stream-id.js';
import { groupStream } from '../../src/protocol/streams.js';
import { FileStorage } from '../../src/storage/file.js';
import { MemoryStorage } from '../../src/storage/index.js';

const T0 = 1_700_000_000_000;
const tempDir = tempDirs('pqc-iiot-guard-');
const manualClock = (start = T0): ReturnType<typeof clockAt> => clockAt(start);

const key = (sender = 'plc-1', channel = 'line/3/telemetry', epoch = 1) => ({ sender, channel, epoch });


describe('ReplayGuard', () => {
  it('classifies duplicates, replays, old and future timestamps, and counts them', async () => {
    // Opened 10 minutes earlier: a memory-only guard refuses what predates its start (test/replay/restart.test.ts).
    const clock = manualClock(T0 - 10 * 60_000);
    const guard = await ReplayGuard.open({ clock: clock.now, windowSize: 64 });
    clock.set(T0);
    const k = key();
    expect(await deliver(guard, k, 100, T0)).toBe('delivered');
    expect(await deliver(guard, k, 100, T0)).toBe('DUPLICATE');
    expect(await deliver(guard, k, 99, T0)).toBe('delivered');
    expect(await deliver(guard, k, 36, T0)).toBe('REPLAY');
    expect(await deliver(guard, k, 37, T0)).toBe('delivered');
    // Timestamp edges: exactly maxAge old and exactly skew ahead are fine.
    expect(await deliver(guard, k, 200, T0 - 5 * 60_000)).toBe('delivered');
    expect(await deliver(guard, k, 201, T0 - 5 * 60_000 - 1)).toBe('TOO_OLD');
    expect(await deliver(guard, k, 202, T0 + 30_000)).toBe('delivered');
    expect(await deliver(guard, k, 203, T0 + 30_001)).toBe('FROM_FUTURE');
    // A rejected timestamp did not consume the number.
    expect(await deliver(guard, k, 201, T0)).toBe('delivered');
    // Sequence reasons come before timestamp reasons.
    expect(await deliver(guard, k, 201, T0 - 10 * 60_000)).toBe('DUPLICATE');
    expect(guard.stats()).toEqual({ duplicates: 2, replays: 1, tooOld: 1, fromFuture: 1, accepted: 6 });
  });

  it('keeps streams apart: sender, channel and epoch', async () => {
    const guard = await ReplayGuard.open({ clock: () => T0 });
    const keys = [key('a', 'c', 1), key('b', 'c', 1), key('a', 'd', 1), key('a', 'c', 2), key('a/c', '1', 1), key('a', 'c/1', 1)];
    for (const k of keys) expect(await deliver(guard, k, 5, T0)).toBe('delivered');
    for (const k of keys) expect(await deliver(guard, k, 5, T0)).toBe('DUPLICATE');
  });

  it('check() changes no replay state', async () => {
    const guard = await ReplayGuard.open({ clock: () => T0 });
    const k = key();
    for (let i = 0; i < 3; i++) expect(guard.check(k, 7, T0)).toEqual({ ok: true });
    await guard.accept(k, 7, T0);
    expect(guard.check(k, 7, T0)).toEqual({ ok: false, code: 'DUPLICATE' });
    expect(guard.stats().accepted).toBe(1);
  });

  it('accepts only one of two copies checked before either was accepted', async () => {
    const guard = await ReplayGuard.open({ clock: () => T0, storage: new MemoryStorage() });
    const k = key();
    expect(guard.check(k, 1, T0).ok && guard.check(k, 1, T0).ok).toBe(true);
    const results = await Promise.allSettled([guard.accept(k, 1, T0), guard.accept(k, 1, T0)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected');
    expect(rejected?.status === 'rejected' && rejected.reason).toMatchObject({ code: 'DUPLICATE', sender: 'plc-1' });
  });

  it('rejects malformed arguments', async () => {
    await expect(ReplayGuard.open({ windowSize: 10 })).rejects.toThrow(RangeError);
    await expect(ReplayGuard.open({ maxAgeMs: -1 })).rejects.toThrow(RangeError);
    await expect(ReplayGuard.open({ maxStreams: 0 })).rejects.toThrow(RangeError);
    const guard = await ReplayGuard.open({ clock: () => T0 });
    expect(() => guard.check(key(), -1, T0)).toThrow(RangeError);
    expect(() => guard.check(key(), 1, Number.NaN)).toThrow(RangeError);
    expect(() => guard.check(key('', 'c'), 1, T0)).toThrow(RangeError);
    expect(() => guard.check(key('a\uDC00', 'c'), 1, T0)).toThrow(RangeError);
    expect(() => guard.check(key('a', 'c', 1.5), 1, T0)).toThrow(RangeError);
    expect(() => guard.check(key('s'.repeat(513)), 1, T0)).toThrow(RangeError);
    // A memory-only guard reads its clock at open (the restart rule); a clock that breaks later fails check().
    await expect(ReplayGuard.open({ clock: () => Number.NaN })).rejects.toThrow(RangeError);
    let now = T0;
    const broken = await ReplayGuard.open({ clock: () => now });
    now = Number.NaN;
    expect(() => broken.check(key(), 1, T0)).toThrow(RangeError);
  });
});

describe('ReplayGuard persistence', () => {
  it('rejects after a restart what was accepted before it (FileStorage, fresh guard)', async () => {
    const dir = await tempDir();
    const clock = manualClock();
    const before = await ReplayGuard.open({ storage: await FileStorage.open(dir), clock: clock.now });
    const k = key();
    for (const seq of [0, 1, 2, 5, 1000]) expect(await deliver(before, k, seq, T0)).toBe('delivered');
    expect(await deliver(before, key('other', 'x', 9), 42, T0)).toBe('delivered');

    // Restart: new storage instance, new guard, same directory.
    const after = await ReplayGuard.open({ storage: await FileStorage.open(dir), clock: clock.now });
    for (const seq of [0, 1, 2, 5, 1000]) expect(await deliver(after, k, seq, T0 + 1)).not.toBe('delivered');
    expect(await deliver(after, k, 1000, T0 + 1)).toBe('DUPLICATE');
    expect(await deliver(after, k, 5, T0 + 1)).toBe('DUPLICATE');
    expect(await deliver(after, key('other', 'x', 9), 42, T0 + 1)).toBe('DUPLICATE');
    expect(await deliver(after, k, 3, T0 + 1)).toBe('delivered');
    expect(await deliver(after, k, 1001, T0 + 1)).toBe('delivered');
  });

  it('persists every accept even when many run concurrently (writes coalesce, never reorder)', async () => {
    const dir = await tempDir();
    const guard = await ReplayGuard.open({ storage: await FileStorage.open(dir), clock: () => T0 });
    const k = key();
    const seqs = Array.from({ length: 300 }, (_, i) => (i * 37) % 300); // shuffled 0..299
    await Promise.all(seqs.map((s) => guard.accept(k, s, T0)));
    const after = await ReplayGuard.open({ storage: await FileStorage.open(dir), clock: () => T0 });
    for (let s = 0; s < 300; s++) expect(after.check(k, s, T0)).toEqual({ ok: false, code: 'DUPLICATE' });
    expect(after.check(k, 300, T0)).toEqual({ ok: true });
  });

  it('keeps writes of a stream in order on a storage whose writes may finish out of order', async () => {
    const backing = new MemoryStorage();
    let writes = 0;
    // A pass-through to real storage with network-like latency: a later set() may land first.
    const slow = {
      get: (k: string) => backing.get(k),
      keys: (p: string) => backing.keys(p),
      delete: (k: string) => backing.delete(k),
      set: async (k: string, v: Uint8Array) => {
        writes++;
        await new Promise((r) => setTimeout(r, (writes * 7919) % 5));
        await backing.set(k, v);
      },
    };
    const guard = await ReplayGuard.open({ storage: slow, clock: () => T0 });
    await Promise.all(Array.from({ length: 200 }, (_, s) => guard.accept(key(), s, T0)));
    expect(writes).toBeLessThan(200); // coalesced
    const after = await ReplayGuard.open({ storage: backing, clock: () => T0 });
    for (let s = 0; s < 200; s++) expect(after.check(key(), s, T0)).toEqual({ ok: false, code: 'DUPLICATE' });
  });

  it('reloads evicted streams from storage; accept() decides for streams not in memory', async () => {
    const storage = new MemoryStorage();
    const guard = await ReplayGuard.open({ storage, clock: () => T0, maxStreams: 2 });
    for (let i = 0; i < 5; i++) await guard.accept(key(`s${i}`), 10, T0);
    expect(guard.residentStreams).toBe(2);
    // s0 was evicted: check() cannot see it, accept() loads it and refuses.
    expect(guard.check(key('s0'), 10, T0)).toEqual({ ok: true });
    await expect(guard.accept(key('s0'), 10, T0)).rejects.toMatchObject({ code: 'DUPLICATE' });
    // preload() makes check() exact again.
    await guard.preload(key('s1'));
    expect(guard.check(key('s1'), 10, T0)).toEqual({ ok: false, code: 'DUPLICATE' });
    expect(guard.residentStreams).toBeLessThanOrEqual(2);
    // open() loads at most maxStreams windows.
    const reopened = await ReplayGuard.open({ storage, clock: () => T0, maxStreams: 3 });
    expect(reopened.residentStreams).toBe(3);
  });

  it('fails closed: a write error rejects accept(), and the number stays refused', async () => {
    const dir = await tempDir();
    const guard = await ReplayGuard.open({ storage: await FileStorage.open(dir), clock: () => T0 });
    await guard.accept(key(), 1, T0);
    await rm(dir, { recursive: true });
    await expect(guard.accept(key(), 2, T0)).rejects.toThrow(StorageError);
    expect(guard.check(key(), 2, T0)).toEqual({ ok: false, code: 'DUPLICATE' });
    expect(guard.stats().accepted).toBe(1);
  });

  it('a corrupt persisted window blocks only its own stream', async () => {
    const dir = await tempDir();
    const storage = await FileStorage.open(dir);
    const first = await ReplayGuard.open({ storage, clock: () => T0 });
    await first.accept(key('good'), 1, T0);
    await first.accept(key('bad'), 1, T0);
    const names = await readdir(dir);
    const badFile = names.find((n) => n.includes('bad'))!;
    await writeFile(join(dir, badFile), 'garbage');
    const second = await ReplayGuard.open({ storage: await FileStorage.open(dir), clock: () => T0 });
    await expect(second.accept(key('bad'), 2, T0)).rejects.toMatchObject({ code: 'CORRUPT' });
    expect(await deliver(second, key('good'), 1, T0)).toBe('DUPLICATE');
    expect(await deliver(second, key('good'), 2, T0)).toBe('delivered');
  });

  it('guards with distinct namespaces share one storage without mixing state', async () => {
    const storage = new MemoryStorage();
    const a = await ReplayGuard.open({ storage, clock: () => T0, namespace: 'id/a/' });
    const b = await ReplayGuard.open({ storage, clock: () => T0, namespace: 'id/b/' });
    await a.accept(key(), 1, T0);
    expect(await deliver(b, key(), 1, T0)).toBe('delivered');
    await a.forgetEpoch('plc-1', 'line/3/telemetry', 5);
    // a's window is gone; what stays of a is the floor below which its epochs stay refused.
    expect((await storage.keys('')).sort()).toEqual(['id/a/replay-floor/v1/plc-1/line%2F3%2Ftelemetry/', 'id/b/replay/v1/plc-1/line%2F3%2Ftelemetry/1']);
    const b2 = await ReplayGuard.open({ storage, clock: () => T0, namespace: 'id/b/' });
    expect(b2.check(key(), 1, T0)).toEqual({ ok: false, code: 'DUPLICATE' });
    const a2 = await ReplayGuard.open({ storage, clock: () => T0, namespace: 'id/a/' });
    expect(a2.check(key(), 1, T0)).toEqual({ ok: false, code: 'REPLAY' }); // epoch 1 is below a's floor (5)
    expect(a2.check({ ...key(), epoch: 5 }, 1, T0)).toEqual({ ok: true });
  });

  it('a changed windowSize keeps what was accepted', async () => {
    const storage = new MemoryStorage();
    const small = await ReplayGuard.open({ storage, clock: () => T0, windowSize: 64 });
    await small.accept(key(), 500, T0);
    const big = await ReplayGuard.open({ storage, clock: () => T0, windowSize: 2048 });
    expect(big.check(key(), 500, T0)).toEqual({ ok: false, code: 'DUPLICATE' });
    expect(big.check(key(), 400, T0)).toEqual({ ok: false, code: 'DUPLICATE' }); // unknown: counted as seen
    expect(big.check(key(), 501, T0)).toEqual({ ok: true });
  });

  it('forgetEpoch() drops old epochs of one (sender, channel), in memory and storage', async () => {
    const dir = await tempDir();
    const storage = await FileStorage.open(dir);
    const guard = await ReplayGuard.open({ storage, clock: () => T0 });
    for (const epoch of [1, 2, 3, 10]) await guard.accept(key('a', 'c', epoch), 1, T0);
    await guard.accept(key('a', 'c2', 1), 1, T0);
    await guard.accept(key('b', 'c', 1), 1, T0);
    await guard.forgetEpoch('a', 'c', 3);
    expect((await storage.keys('')).sort()).toEqual(
      ['replay-floor/v1/a/c/', 'replay/v1/a/c/10', 'replay/v1/a/c/3', 'replay/v1/a/c2/1', 'replay/v1/b/c/1'].sort(),
    );
    // Epochs below the floor stay refused, also after a restart (a late grant must not reopen them).
    expect(guard.check(key('a', 'c', 1), 1, T0)).toEqual({ ok: false, code: 'REPLAY' });
    const reopened = await ReplayGuard.open({ storage, clock: () => T0 });
    expect(reopened.check(key('a', 'c', 2), 7, T0)).toEqual({ ok: false, code: 'REPLAY' });
    expect(reopened.epochFloor('a', 'c')).toBe(3);
    expect(reopened.epochFloor('a', 'c2')).toBe(0);
    expect(guard.check(key('a', 'c', 3), 1, T0)).toEqual({ ok: false, code: 'DUPLICATE' });
    expect(guard.check(key('a', 'c2', 1), 1, T0)).toEqual({ ok: false, code: 'DUPLICATE' });
    await expect(guard.forgetEpoch('a', 'c', -1)).rejects.toThrow(RangeError);
  });
});

describe('ReplayGuard without storage: bounded memory without a replay hole', () => {
  it('refuses replays of evicted streams, accepts their new messages', async () => {
    const clock = manualClock();
    const guard = await ReplayGuard.open({ clock: clock.now, maxStreams: 2 });
    expect(await deliver(guard, key('s0'), 10, T0 - 1000)).toBe('delivered');
    clock.set(T0 + 10);
    expect(await deliver(guard, key('s1'), 10, T0 + 10)).toBe('delivered');
    expect(await deliver(guard, key('s2'), 10, T0 + 10)).toBe('delivered'); // evicts s0
    expect(guard.residentStreams).toBe(2);
    // Replays of s0 (timestamps up to its newest accepted one) are refused, whatever the number.
    expect(await deliver(guard, key('s0'), 10, T0 - 1000)).toBe('REPLAY');
    expect(await deliver(guard, key('s0'), 5, T0 - 2000)).toBe('REPLAY');
    // Its next honest message (newer timestamp) is accepted, and re-creates the stream.
    expect(await deliver(guard, key('s0'), 11, T0 + 20)).toBe('delivered');
    // Even with the stream back in memory, older messages of its first life stay refused.
    expect(await deliver(guard, key('s0'), 9, T0 - 1000)).toBe('REPLAY');
  });

  it('a copy racing the eviction of its stream is refused by accept()', async () => {
    const guard = await ReplayGuard.open({ clock: () => T0, maxStreams: 1 });
    expect(guard.check(key('a'), 1, T0).ok && guard.check(key('a'), 1, T0).ok).toBe(true);
    await guard.accept(key('a'), 1, T0);
    await guard.accept(key('b'), 1, T0 + 1); // evicts a
    await expect(guard.accept(key('a'), 1, T0)).rejects.toMatchObject({ code: 'REPLAY' });
  });

  it('without timestamps in accept(), evicted streams wait out the clock skew', async () => {
    const clock = manualClock();
    const guard = await ReplayGuard.open({ clock: clock.now, maxStreams: 1, clockSkewMs: 1000 });
    await guard.accept(key('a'), 1);
    await guard.accept(key('b'), 1); // evicts a at T0: floor T0 + 1000
    expect(guard.check(key('a'), 2, T0 + 1000)).toEqual({ ok: false, code: 'REPLAY' });
    clock.set(T0 + 1001);
    expect(guard.check(key('a'), 2, T0 + 1001)).toEqual({ ok: true });
  });

  it('memory stays bounded under many streams', async () => {
    const clock = manualClock();
    const guard = await ReplayGuard.open({ clock: clock.now, maxStreams: 100 });
    for (let i = 0; i < 5000; i++) {
      clock.set(T0 + i); // time moves: new messages are newer than the evicted streams' last ones
      expect(await deliver(guard, key(`s${i % 1000}`), i, T0 + i)).toBe('delivered');
    }
    expect(guard.residentStreams).toBe(100);
    expect(guard.stats().accepted).toBe(5000);
    // Every one of those messages, replayed, is refused.
    for (let i = 0; i < 5000; i++) expect(await deliver(guard, key(`s${i % 1000}`), i, T0 + i)).not.toBe('delivered');
  });
});

describe('stream ids', () => {
  it('remembers the id of a frozen key only: a key that can change is read again every time', () => {
    const frozen = Object.freeze({ sender: 'plc/1', channel: 'g1:line/#', epoch: 3 });
    expect(streamId(frozen)).toBe('replay/v1/plc%2F1/g1:line%2F#/3');
    expect(streamId(frozen)).toBe(streamId({ ...frozen }));
    const open = { sender: 'plc-1', channel: 'g1:line/#', epoch: 3 };
    expect(streamId(open)).toBe('replay/v1/plc-1/g1:line%2F#/3');
    open.epoch = 4;
    open.sender = 'plc-2';
    expect(streamId(open)).toBe('replay/v1/plc-2/g1:line%2F#/4');
    expect(() => streamId(Object.freeze({ sender: 'plc-1', channel: 'c', epoch: -1 }))).toThrow(RangeError);
  });

  it('gives a repeated group stream the same frozen key, and a different stream its own', () => {
    const a = groupStream('plc-1', 1, 'line/#', 7);
    expect(Object.isFrozen(a)).toBe(true);
    expect(groupStream('plc-1', 1, 'line/#', 7)).toBe(a);
    for (const other of [groupStream('plc-1', 1, 'line/#', 8), groupStream('plc-1', 2, 'line/#', 7), groupStream('plc-2', 1, 'line/#', 7), groupStream('plc-1', 1, 'line/+', 7)]) {
      expect(other).not.toBe(a);
      expect(streamId(other)).not.toBe(streamId(a));
    }
    expect(groupStream('plc-1', 1, 'line/#', 7)).toEqual(a);
  });
});
