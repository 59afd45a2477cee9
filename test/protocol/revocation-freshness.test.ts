// Issue 19, finding 1: revocation must fail closed when the broker withholds the
// revocation list. The review's attack: a device is revoked, the CA publishes the
// new list, the broker (working with the device) never delivers it; the publisher
// kept granting the revoked device every new epoch key, and subscribers kept
// accepting a revoked publisher. Lists now carry the CA's next-update time: once
// the newest list a key manager holds is past it (plus revocation.graceMs), it
// grants nothing and opens nothing (STALE_REVOCATION) until a fresh list arrives.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { issueRevocationList } from '../../src/certs/revocation.js';
import { SecurityError } from '../../src/errors.js';
import { KeyManager } from '../../src/protocol/key-manager.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { T0, keyManagers, manualClock, utf8, world, type World } from './fixtures.js';

let w: World;
const kms = keyManagers();
const HOUR = 60 * 60_000;

beforeAll(async () => {
  w = await world();
});

afterEach(() => kms.closeAll());

const km = kms.open;

/** The reason code `work` fails with, or 'ok'. */
async function outcome(work: () => Promise<unknown>): Promise<string> {
  try {
    await work();
    return 'ok';
  } catch (err) {
    if (err instanceof SecurityError) return err.code;
    throw err;
  }
}

/** A list issued at `issuedAt`, current for an hour, revoking `subjects`. */
function list(number: number, issuedAt: number, subjects: string[] = []): Uint8Array {
  return issueRevocationList(w.ca, { number, issuedAt, nextUpdate: issuedAt + HOUR, entries: subjects.map((subject) => ({ kind: 'subject' as const, subject })) }).bytes;
}

describe('a withheld revocation list (fail closed)', () => {
  it('the publisher grants a revoked device nothing once its newest list is past its next update; a fresh list restores service', async () => {
    const clock = manualClock();
    // Two trust stores: the publisher's and the revoked device's (the broker delivers the device everything).
    const pubTrust = await w.trust();
    await pubTrust.applyRevocationList(list(1, T0));
    const devTrust = await w.trust();
    const plc = await km(w.plc, pubTrust, clock, { revocation: { graceMs: 60_000 } });
    const device = await km(w.hmi2, devTrust, clock);
    // Within the list's life: the device is granted, as it should be (it is not revoked in list 1).
    expect(await outcome(() => plc.handleKeyRequest(device.keyRequest('plc-1', 'plant/line1/#')))).toBe('ok');
    // The CA revokes the device in list 2; the broker withholds it. Time passes past list 1's next update + grace.
    clock.advance(HOUR + 60_001);
    expect(await outcome(() => plc.handleKeyRequest(device.keyRequest('plc-1', 'plant/line1/#')))).toBe('STALE_REVOCATION');
    const rotated = await plc.rotate('plant/line1/#');
    expect(rotated.grants).toEqual([]); // a new epoch is granted to nobody while the list is stale
    // The fresh list arrives (revoking the device): honest service resumes, the device gets nothing.
    await pubTrust.applyRevocationList(list(2, T0 + HOUR + 60_001, ['hmi-2']));
    expect(await outcome(() => plc.handleKeyRequest(device.keyRequest('plc-1', 'plant/line1/#')))).toBe('REVOKED');
  });

  it('a subscriber opens no data while its list is stale (a revoked publisher could be hiding behind it), and relaxing it is explicit', async () => {
    const clock = manualClock();
    const trust = await w.trust();
    await trust.applyRevocationList(list(1, T0));
    const plc = await km(w.plc, await w.trust(), clock, { rotateAfterMs: 10 * HOUR }); // one epoch for the whole test
    const hmi = await km(w.hmi, trust, clock, { revocation: { graceMs: 0 } });
    const relaxed = await km(w.hmi2, trust, clock, { revocation: { graceMs: 0, whenStale: 'accept' } });
    for (const sub of [hmi, relaxed]) for (const g of await plc.handleKeyRequest(sub.keyRequest('plc-1', 'plant/line1/#'))) await sub.acceptGrant(g.bytes, g.topic);
    const before = await plc.sealData('plant/line1/temp', utf8('fresh list'));
    expect(await outcome(() => hmi.openData(before, 'plant/line1/temp'))).toBe('ok');
    clock.advance(HOUR + 1);
    const after = await plc.sealData('plant/line1/temp', utf8('stale list'));
    expect(await outcome(() => hmi.openData(after, 'plant/line1/temp'))).toBe('STALE_REVOCATION');
    expect(await outcome(() => relaxed.openData(after, 'plant/line1/temp'))).toBe('ok');
    // A fresh list: the same message opens (it was refused before any state changed).
    await trust.applyRevocationList(list(2, T0 + HOUR + 1));
    expect(await outcome(() => hmi.openData(after, 'plant/line1/temp'))).toBe('ok');
  });

  it('without any list, service runs unless requireList says a list must be there', async () => {
    const clock = manualClock();
    const trust = await w.trust();
    const plc = await km(w.plc, await w.trust(), clock);
    const hmi = await km(w.hmi, trust, clock);
    const strict = await km(w.hmi2, trust, clock, { revocation: { requireList: true } });
    expect(await outcome(() => plc.handleKeyRequest(hmi.keyRequest('plc-1', 'plant/line1/#')))).toBe('ok');
    const sealed = await plc.sealData('plant/line1/temp', utf8('x'));
    expect(await outcome(() => strict.openData(sealed, 'plant/line1/temp'))).toBe('STALE_REVOCATION');
    await expect(KeyManager.open({ identity: w.hmi.identity, certificate: w.hmi.cert, trust, storage: new MemoryStorage(), revocation: { whenStale: 'never' as never } })).rejects.toThrow(RangeError);
  });
});
