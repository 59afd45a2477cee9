// Issue 19, finding 3: a restart without durable storage reopens replay.
//
// A memory-only ReplayGuard (no storage, or a MemoryStorage it is the first
// guard on) forgets every window when its process restarts, so the broker
// could replay anything younger than maxAgeMs (5 min), commands included. The
// guard therefore refuses every message timestamped before its state began
// (minus clockSkewMs), as OSCORE does after a reboot; live traffic flows at
// once. A durable storage (FileStorage) keeps today's behaviour.
import { describe, expect, it } from 'vitest';
import { SecurityError } from '../../src/errors.js';
import { ReplayGuard } from '../../src/replay/guard.js';
import { deliver, manualClock as clockAt, tempDirs } from './fixtures.js';
import { FileStorage } from '../../src/storage/file.js';
import { MemoryStorage } from '../../src/storage/index.js';

const T0 = 1_700_000_000_000;
const MIN = 60_000;
const SKEW = 30_000;
const tempDir = tempDirs('pqc-iiot-restart-');
const manualClock = (start = T0): ReturnType<typeof clockAt> => clockAt(start);

const key = (sender = 'plc-1', channel = 'g1:plant/line1/#', epoch = 1) => ({ sender, channel, epoch });


/** The last four minutes of traffic of a subscriber (one message every 10 s on two streams), as the broker recorded it. */
const recorded = Array.from({ length: 24 }, (_, i) => ({ k: key('plc-1', i % 2 ? 'd1' : 'g1:plant/line1/#'), seq: 100 + i, ts: T0 + i * 10_000 }));

async function liveThenRestart(open: (clock: () => number) => Promise<ReplayGuard>): Promise<{ before: ReplayGuard; after: ReplayGuard; clock: ReturnType<typeof manualClock> }> {
  const clock = manualClock();
  const before = await open(clock.now);
  for (const m of recorded) {
    clock.set(m.ts);
    expect(await deliver(before, m.k, m.seq, m.ts)).toBe('delivered');
  }
  // The process restarts one minute after the last message; the broker replays all of them (each younger than maxAgeMs).
  clock.set(T0 + 4 * MIN + MIN);
  const after = await open(clock.now);
  return { before, after, clock };
}

describe('ReplayGuard after a restart without durable storage', () => {
  it('without storage: every message timestamped before the start (minus the skew) is refused as TOO_OLD', async () => {
    const { after, clock } = await liveThenRestart((now) => ReplayGuard.open({ clock: now }));
    const start = clock.now();
    for (const m of recorded) expect(await deliver(after, m.k, m.seq, m.ts), `replay of seq ${m.seq}`).toBe('TOO_OLD');
    // accept() alone (a caller that skipped check()) refuses too, and says why.
    const m = recorded[recorded.length - 1]!;
    const err = await after.accept(m.k, m.seq, m.ts).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SecurityError);
    expect(err).toMatchObject({ code: 'TOO_OLD' });
    expect((err as SecurityError).message).toMatch(/restart/);
    expect(after.check(m.k, m.seq, m.ts)).toMatchObject({ ok: false, code: 'TOO_OLD', detail: expect.stringMatching(/restart/) });
    // Live traffic flows at once: a message stamped now, or up to the skew before the start, is accepted.
    expect(await deliver(after, key(), 500, start)).toBe('delivered');
    expect(await deliver(after, key(), 501, start - SKEW)).toBe('delivered');
    expect(await deliver(after, key(), 502, start - SKEW - 1)).toBe('TOO_OLD');
    expect(after.stats().tooOld).toBeGreaterThanOrEqual(recorded.length + 1);
  });

  it('on a fresh MemoryStorage (the client default): the same', async () => {
    const { after } = await liveThenRestart((now) => ReplayGuard.open({ clock: now, storage: new MemoryStorage() }));
    for (const m of recorded) expect(await deliver(after, m.k, m.seq, m.ts)).toBe('TOO_OLD');
  });

  it('a MemoryStorage kept across the restart (same process) holds the windows: replays are DUPLICATE, and no floor comes from the reopen', async () => {
    const storage = new MemoryStorage();
    const { after, clock } = await liveThenRestart((now) => ReplayGuard.open({ clock: now, storage }));
    for (const m of recorded) expect(await deliver(after, m.k, m.seq, m.ts)).toBe('DUPLICATE');
    // A message sent before the reopen and never seen (delayed) is still accepted: the storage's state is complete since T0.
    expect(await deliver(after, key(), 300, clock.now() - 2 * MIN)).toBe('delivered');
  });

  it('with durable storage (FileStorage): today\'s behaviour, replays are DUPLICATE and unseen older messages are accepted', async () => {
    const dir = await tempDir();
    const { after, clock } = await liveThenRestart(async (now) => ReplayGuard.open({ clock: now, storage: await FileStorage.open(dir) }));
    for (const m of recorded) expect(await deliver(after, m.k, m.seq, m.ts)).toBe('DUPLICATE');
    expect(await deliver(after, key(), 300, clock.now() - 2 * MIN)).toBe('delivered');
  });

  it('stateSinceMs overrides when the state began (e.g. a custom memory-only Storage)', async () => {
    const clock = manualClock(T0 + 10 * MIN);
    const custom = new MemoryStorage();
    const declared = await ReplayGuard.open({ clock: clock.now, storage: custom, stateSinceMs: T0 + 9 * MIN });
    expect(await deliver(declared, key(), 1, T0 + 9 * MIN - SKEW)).toBe('delivered');
    expect(await deliver(declared, key(), 2, T0 + 9 * MIN - SKEW - 1)).toBe('TOO_OLD');
    const none = await ReplayGuard.open({ clock: clock.now, stateSinceMs: 0 });
    expect(await deliver(none, key(), 1, T0 + 6 * MIN)).toBe('delivered');
    await expect(ReplayGuard.open({ stateSinceMs: -1 })).rejects.toThrow(RangeError);
  });
});
