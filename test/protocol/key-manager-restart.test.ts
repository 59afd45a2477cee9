// Issue 19, finding 3, through the KeyManager: a restart without durable
// storage must not reopen replay. The broker records a subscriber's traffic
// (group data, a grant, a command) and the publisher's key requests, the
// process restarts on a fresh MemoryStorage (the client's default), and the
// broker replays everything, each message still younger than maxAgeMs.
// Before the fix the restarted KeyManager accepted every replay once more.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TrustStore } from '../../src/certs/trust-store.js';
import { SecurityError } from '../../src/errors.js';
import { KeyManager, type KeyManagerOptions } from '../../src/protocol/key-manager.js';
import { FileStorage } from '../../src/storage/file.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { Storage } from '../../src/storage/types.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { T0, codeOf, manualClock, text, utf8, world, type Party, type World } from './fixtures.js';

let w: World;
let trust: TrustStore;
const open: KeyManager[] = [];
const MIN = 60_000;

beforeAll(async () => {
  w = await world();
  trust = await w.trust();
});

afterEach(async () => {
  for (const km of open.splice(0)) await km.close();
});

async function km(party: Party, clock: () => number, storage: Storage = new MemoryStorage(), extra: Partial<KeyManagerOptions> = {}): Promise<KeyManager> {
  const m = await KeyManager.open({ identity: party.identity, certificate: party.cert, trust, storage, clock, regrantIntervalMs: 0, ...extra });
  open.push(m);
  return m;
}

describe('KeyManager restarted without durable storage', () => {
  it('a subscriber restarted on a fresh MemoryStorage refuses the replayed group data and grants of its previous life', async () => {
    const clock = manualClock();
    const plc = await km(w.plc, clock);
    let hmi = await km(w.hmi, clock);
    const grants = await plc.handleKeyRequest(hmi.keyRequest('plc-1', 'plant/line1/#'));
    for (const g of grants) await hmi.acceptGrant(g.bytes, g.topic);
    // Two minutes of live data, recorded by the broker.
    const recorded: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      clock.set(T0 + i * 30_000);
      const bytes = await plc.sealData('plant/line1/valve', utf8(`open ${i}`));
      recorded.push(bytes);
      expect(text((await hmi.openData(bytes, 'plant/line1/valve')).payload)).toBe(`open ${i}`);
    }

    // The subscriber's process restarts at T0 + 3 min: fresh memory, no window, no key.
    clock.set(T0 + 3 * MIN);
    hmi = await km(w.hmi, clock);
    const outcome = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
        return 'accepted';
      } catch (err) {
        if (!(err instanceof SecurityError)) throw err;
        return err.code === 'UNKNOWN_EPOCH' ? `UNKNOWN_EPOCH${err.awaitingKey ? ' (held, key requested)' : ''}` : err.code;
      }
    };
    // The broker replays data before the subscriber has a key, then a grant of its previous life.
    const beforeKey = await outcome(hmi.openData(recorded[4]!, 'plant/line1/valve'));
    const needs = hmi.needsKey().length;
    const oldGrant = await outcome(hmi.acceptGrant(grants[0]!.bytes, grants[0]!.topic));
    // The live key request gets the current epoch (the same epoch 1) again.
    for (const g of await plc.handleKeyRequest(hmi.keyRequest('plc-1', 'plant/line1/#'))) await outcome(hmi.acceptGrant(g.bytes, g.topic));
    expect(hmi.heldEpochs('plc-1', 'plant/line1/#')).toEqual([1]);
    // Now every message of the last three minutes, replayed.
    const replays: string[] = [];
    for (const bytes of recorded) replays.push(await outcome(hmi.openData(bytes, 'plant/line1/valve')));
    expect({ beforeKey, needs, oldGrant, replays }).toEqual({
      beforeKey: 'UNKNOWN_EPOCH', // refused at once: not held, no key request for it
      needs: 0,
      oldGrant: 'TOO_OLD',
      replays: ['TOO_OLD', 'TOO_OLD', 'TOO_OLD', 'TOO_OLD', 'TOO_OLD'],
    });
    // Live traffic flows at once.
    const live = await plc.sealData('plant/line1/valve', utf8('close'));
    expect(text((await hmi.openData(live, 'plant/line1/valve')).payload)).toBe('close');
    // Retained messages keep their own policy (accepted once per session, up to retainedMaxAgeMs old).
    expect((await hmi.openData(recorded[0]!, 'plant/line1/valve', { retained: true })).retained).toBe(true);
  });

  it('a command recipient restarted on a fresh MemoryStorage refuses the replayed command', async () => {
    const clock = manualClock();
    const hmi = await km(w.hmi, clock);
    let plc = await km(w.plc, clock);
    const stop = await hmi.sealDirect(w.plc.cert, 'plant/cmd/plc-1', utf8('stop'));
    expect(text((await plc.openDirect(stop, 'plant/cmd/plc-1')).payload)).toBe('stop');
    expect(await codeOf(plc.openDirect(stop, 'plant/cmd/plc-1'))).toBe('DUPLICATE');

    clock.set(T0 + 2 * MIN);
    plc = await km(w.plc, clock); // restarted, fresh memory
    expect(await codeOf(plc.openDirect(stop, 'plant/cmd/plc-1')), 'the replayed command').toBe('TOO_OLD');
    // A new command is executed at once.
    const start = await hmi.sealDirect(w.plc.cert, 'plant/cmd/plc-1', utf8('start'));
    expect(text((await plc.openDirect(start, 'plant/cmd/plc-1')).payload)).toBe('start');
  });

  it('a publisher restarted (any storage: the nonce cache is never stored) refuses the replayed key requests of its previous life', async () => {
    const clock = manualClock();
    const storage = new MemoryStorage();
    let plc = await km(w.plc, clock, storage);
    const hmi = await km(w.hmi, clock);
    const request = hmi.keyRequest('plc-1', 'plant/line1/#');
    expect(await plc.handleKeyRequest(request)).toHaveLength(2);
    expect(await codeOf(plc.handleKeyRequest(request))).toBe('DUPLICATE');

    await plc.close(); // the process goes away (its sequence counters are released)
    clock.set(T0 + 2 * MIN);
    plc = await km(w.plc, clock, storage); // restarted on the same storage: its epochs and subscribers survive, its nonce cache does not
    const replayed = await plc.handleKeyRequest(request).then((grants) => `accepted: ${grants.length} grants`, (e: unknown) => (e instanceof SecurityError ? e.message : String(e)));
    expect(replayed).toMatch(/^TOO_OLD: .*restart/);
    // A fresh request is answered at once.
    expect(await plc.handleKeyRequest(hmi.keyRequest('plc-1', 'plant/line1/#'))).toHaveLength(2);
  });

  it('with durable storage (FileStorage) a replayed command after the restart is a DUPLICATE, as before', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pqc-km-restart-'));
    try {
      const clock = manualClock();
      const hmi = await km(w.hmi, clock);
      const plc1 = await km(w.plc, clock, await FileStorage.open(dir));
      const stop = await hmi.sealDirect(w.plc.cert, 'plant/cmd/plc-1', utf8('stop'));
      await plc1.openDirect(stop, 'plant/cmd/plc-1');
      // A command sent just before the restart, never delivered to the first life: still accepted after it.
      const delayed = await hmi.sealDirect(w.plc.cert, 'plant/cmd/plc-1', utf8('delayed'));
      await plc1.close();
      clock.set(T0 + 2 * MIN);
      const plc2 = await km(w.plc, clock, await FileStorage.open(dir));
      expect(await codeOf(plc2.openDirect(stop, 'plant/cmd/plc-1'))).toBe('DUPLICATE');
      expect(text((await plc2.openDirect(delayed, 'plant/cmd/plc-1')).payload)).toBe('delayed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
