// Issue 19, finding 6: backward secrecy on join. A new or re-admitted
// subscriber must not read what its channel sealed before its admission, in
// the current epoch or in a previous one, beyond joinWindowMs (default 1 s:
// a first message that arrived before its key is still released). The
// publisher starts a new epoch (reason 'join') before it grants a subscriber
// that is not authorised for the channel now, if the current epoch's first
// message is older than that; joins that come together share one rotation (at
// most one per joinWindowMs and channel). Before the fix, a joiner got the
// current epoch (and every previous one still kept) and read all of it.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SecurityError } from '../../src/errors.js';
import { generateIdentity } from '../../src/identity/index.js';
import { decodeGroup } from '../../src/protocol/group.js';
import { KeyManager, type KeyGrant, type RotationEvent } from '../../src/protocol/key-manager.js';
import { seq as bytesSeq } from '../support/helpers.js';
import { T0, keyManagers, manualClock, text, utf8, world, type Party, type World } from './fixtures.js';

let w: World;
const kms = keyManagers();

beforeAll(async () => {
  w = await world();
});

afterEach(() => kms.closeAll());

const km = kms.open;

/** `sub` asks `pub` for the channel and accepts what comes back; returns the grants. */
async function join(pub: KeyManager, sub: KeyManager, filter = 'plant/line1/#'): Promise<KeyGrant[]> {
  const grants = await pub.handleKeyRequest(sub.keyRequest(pub.identity.id, filter));
  for (const g of grants) await sub.acceptGrant(g.bytes, g.topic);
  return grants;
}

/** The outcome of opening `bytes` live: the payload, or the reason code. */
async function read(sub: KeyManager, bytes: Uint8Array, topic = 'plant/line1/x'): Promise<string> {
  try {
    return text((await sub.openData(bytes, topic)).payload);
  } catch (err) {
    if (err instanceof SecurityError) return err.code;
    throw err;
  }
}

describe('rotation on join (backward secrecy)', () => {
  it('a subscriber admitted later cannot open what was sealed before its admission in the same epoch', async () => {
    const clock = manualClock();
    const trust = await w.trust();
    const plc = await km(w.plc, trust, clock);
    const hmi = await km(w.hmi, trust, clock);
    const hmi2 = await km(w.hmi2, trust, clock);
    const rotations: RotationEvent[] = [];
    plc.on('rotated', (e) => rotations.push(e));
    await join(plc, hmi);
    const before = [];
    for (let i = 0; i < 3; i++) before.push(await plc.sealData('plant/line1/x', utf8(`before ${i}`)));
    clock.advance(10_000); // the epoch's first message is older than joinWindowMs: the join rotates first

    const granted = await join(plc, hmi2);
    const after = await plc.sealData('plant/line1/x', utf8('after'));
    // What the late subscriber reads, and what it is granted: nothing sealed before its admission.
    expect({
      before: await Promise.all(before.map((b) => read(hmi2, b))),
      after: await read(hmi2, after),
      granted: granted.filter((g) => g.channel === 'plant/line1/#').map((g) => g.epoch),
      afterEpoch: decodeGroup(after).epoch,
    }).toEqual({ before: ['UNKNOWN_EPOCH', 'UNKNOWN_EPOCH', 'UNKNOWN_EPOCH'], after: 'after', granted: [2], afterEpoch: 2 });
    // Its key requests never bring epoch 1 back.
    expect((await join(plc, hmi2)).filter((g) => g.channel === 'plant/line1/#').map((g) => g.epoch)).toEqual([2]);
    // The members were re-granted with the rotation; the temp channel had sealed nothing and did not rotate.
    const joinEvents = rotations.filter((e) => e.reason === 'join');
    expect(joinEvents.map((e) => [e.channel, e.epoch, e.previousEpoch, e.grants.map((g) => g.subscriber), e.removed])).toEqual([['plant/line1/#', 2, 1, ['hmi-1'], []]]);
    for (const g of joinEvents[0]!.grants) await hmi.acceptGrant(g.bytes, g.topic);
    expect(await read(hmi, after)).toBe('after');
    expect(await read(hmi, before[0]!)).toBe('before 0');
  });

  it('a re-admitted subscriber cannot open what was sealed while it was removed', async () => {
    const clock = manualClock();
    const trust = await w.trust();
    const plc = await km(w.plc, trust, clock, { graceMs: 60_000 });
    const hmi = await km(w.hmi, trust, clock);
    const hmi2 = await km(w.hmi2, trust, clock);
    await join(plc, hmi);
    await join(plc, hmi2);
    const together = await plc.sealData('plant/line1/x', utf8('together'));
    expect(await read(hmi2, together)).toBe('together');
    // hmi-2 is revoked: epoch 2 starts without it.
    clock.advance(1000);
    await plc.handleRevoked((await trust.applyRevocationList(w.revocationList(1, ['hmi-2']))).newlyRevoked);
    const during = [];
    for (let i = 0; i < 2; i++) during.push(await plc.sealData('plant/line1/x', utf8(`while removed ${i}`)));
    // The revocation is lifted (a newer list without it); hmi-2 asks again, as a subscriber that is not authorised now.
    clock.advance(10_000);
    await trust.applyRevocationList(w.revocationList(2, []));
    const granted = await join(plc, hmi2);
    const back = await plc.sealData('plant/line1/x', utf8('back'));
    expect({
      during: await Promise.all(during.map((b) => read(hmi2, b))),
      back: await read(hmi2, back),
      granted: granted.filter((g) => g.channel === 'plant/line1/#').map((g) => g.epoch),
    }).toEqual({
      during: ['UNKNOWN_EPOCH', 'UNKNOWN_EPOCH'],
      back: 'back',
      // Epoch 1 (it was authorised while it lasted) and epoch 3, started for its re-admission; never epoch 2.
      granted: [1, 3],
    });
  });

  it('joins within joinWindowMs of the epoch\'s first message share the epoch (a first message that waited for its key is released); later ones rotate it, at most once per window', async () => {
    const clock = manualClock();
    const trust = await w.trust();
    const plc = await km(w.plc, trust, clock, { joinWindowMs: 2000 });
    const hmi = await km(w.hmi, trust, clock);
    const hmi2 = await km(w.hmi2, trust, clock);
    const guest = await km(w.guest, trust, clock);
    const mallory = await km(w.mallory, trust, clock);
    const rotations: (RotationEvent & { at: number })[] = [];
    plc.on('rotated', (e) => rotations.push({ ...e, at: clock() }));
    const joinRotations = (): [string, number, string[]][] => rotations.filter((e) => e.reason === 'join').map((e) => [e.channel, e.epoch, e.grants.map((g) => g.subscriber)]);
    // Nothing sealed yet: joins are granted the current epoch, no rotation.
    expect((await join(plc, hmi)).map((g) => [g.channel, g.epoch])).toEqual([
      ['plant/line1/#', 1],
      ['plant/line1/temp', 1],
    ]);
    const early = await plc.sealData('plant/line1/x', utf8('early'));
    // hmi-2 subscribed, got the first message before its key and asked: 500 ms later it is admitted to epoch 1 (within the window).
    expect(await read(hmi2, early)).toBe('UNKNOWN_EPOCH'); // held
    clock.advance(500);
    const grants = await plc.handleKeyRequest(hmi2.keyRequest('plc-1', 'plant/line1/#'));
    expect(grants.map((g) => [g.channel, g.epoch])).toEqual([
      ['plant/line1/#', 1],
      ['plant/line1/temp', 1],
    ]);
    const released = (await hmi2.acceptGrant(grants[0]!.bytes, grants[0]!.topic)).released.map((m) => text(m.payload));
    expect(released).toEqual(['early']);
    // guest joins temp, which sealed nothing: no rotation.
    expect((await join(plc, guest, 'plant/line1/temp')).map((g) => [g.channel, g.epoch])).toEqual([['plant/line1/temp', 1]]);
    expect(joinRotations()).toEqual([]);
    // 2.1 s after epoch 1's first message, mallory joins: epoch 2 first; mallory gets neither epoch 1 nor its messages.
    clock.advance(1600);
    const malloryGrants = await join(plc, mallory);
    expect(malloryGrants.filter((g) => g.channel === 'plant/line1/#').map((g) => g.epoch)).toEqual([2]);
    expect(joinRotations()).toEqual([['plant/line1/#', 2, ['hmi-1', 'hmi-2']]]);
    expect(await read(mallory, early)).toBe('UNKNOWN_EPOCH');
    expect(await plc.handleKeyRequest(mallory.keyRequest('plc-1', 'plant/line1/#')).then((g) => g.filter((x) => x.channel === 'plant/line1/#').map((x) => x.epoch))).toEqual([2]);
    // Members keep getting the previous epoch on request, as before.
    expect((await plc.handleKeyRequest(hmi2.keyRequest('plc-1', 'plant/line1/#'))).filter((g) => g.channel === 'plant/line1/#').map((g) => g.epoch)).toEqual([1, 2]);
    const next = await plc.sealData('plant/line1/x', utf8('next'));
    // Two more joiners: 1 s after epoch 2's first message (shares it), then 2.5 s after it (rotates: the second join rotation, 2.5 s after the first).
    const fresh = async (n: number): Promise<KeyManager> => {
      const identity = await generateIdentity(`late-${n}`, { seed: bytesSeq(32, 90 + n) });
      const cert = w.issue(identity, { subscribe: ['plant/line1/#'] });
      await trust.addCertificate(cert, T0);
      return km({ identity, cert }, trust, clock);
    };
    clock.advance(1000);
    const late1 = await fresh(1);
    expect((await join(plc, late1)).filter((g) => g.channel === 'plant/line1/#').map((g) => g.epoch)).toEqual([2]);
    expect(await read(late1, next)).toBe('next'); // sealed 1 s before its admission: within the window
    clock.advance(1500);
    const late2 = await fresh(2);
    expect((await join(plc, late2)).filter((g) => g.channel === 'plant/line1/#').map((g) => g.epoch)).toEqual([3]);
    expect(await read(late2, next)).toBe('UNKNOWN_EPOCH');
    const joins = rotations.filter((e) => e.reason === 'join');
    expect(joins.map((e) => [e.epoch, e.at - T0])).toEqual([
      [2, 2100],
      [3, 4600],
    ]);
  });

  it('a burst of 100 joins while the publisher keeps sealing: one rotation per window at most, no joiner reads what was sealed more than joinWindowMs before its admission', async () => {
    const trust = await w.trust();
    const fleet: Party[] = [];
    for (let i = 0; i < 100; i++) {
      const identity = await generateIdentity(`fleet-${i}`, { seed: bytesSeq(32, 100 + i) });
      const cert = w.issue(identity, { subscribe: ['plant/line1/#'] });
      await trust.addCertificate(cert, T0);
      fleet.push({ identity, cert });
    }
    const window = 1000;
    /** 100 joins `spacingMs` apart into a channel that sealed its first message 5 s earlier; a message sealed after each join. */
    const burst = async (spacingMs: number) => {
      const clock = manualClock();
      const plc = await km(w.plc, trust, clock, { joinWindowMs: window });
      const rotations: (RotationEvent & { at: number })[] = [];
      plc.on('rotated', (e) => rotations.push({ ...e, at: clock() }));
      const sealed: { bytes: Uint8Array; at: number; epoch: number }[] = [];
      const seal = async (label: string): Promise<void> => {
        const bytes = await plc.sealData('plant/line1/x', utf8(label));
        sealed.push({ bytes, at: clock(), epoch: decodeGroup(bytes).epoch });
      };
      await seal('first');
      clock.advance(5 * window);
      const subs: { km: KeyManager; admittedAt: number; grants: KeyGrant[] }[] = [];
      let returned = 0;
      for (const party of fleet) {
        const sub = await km(party, trust, clock);
        const admittedAt = clock();
        const grants = await plc.handleKeyRequest(sub.keyRequest('plc-1', 'plant/line1/#'));
        returned += grants.filter((g) => g.channel === 'plant/line1/#').length;
        subs.push({ km: sub, admittedAt, grants: [...grants] });
        await seal(`after ${party.identity.id}`); // the publisher keeps publishing through the burst
        clock.advance(spacingMs);
      }
      clock.advance(window);
      await seal('after the burst');
      const joins = rotations.filter((e) => e.reason === 'join' && e.channel === 'plant/line1/#');
      const eventGrants = joins.reduce((n, e) => n + e.grants.length, 0);
      const firstSeal = new Map<number, number>();
      for (const m of sealed) if (!firstSeal.has(m.epoch)) firstSeal.set(m.epoch, m.at);
      const violations: string[] = [];
      for (const [i, s] of subs.entries()) {
        const id = fleet[i]!.identity.id;
        const mine = [...s.grants, ...rotations.flatMap((e) => e.grants)].filter((g) => g.subscriber === id && g.channel === 'plant/line1/#');
        for (const g of mine) {
          await s.km.acceptGrant(g.bytes, g.topic).catch(() => undefined);
          const first = firstSeal.get(g.epoch);
          if (first !== undefined && first < s.admittedAt - window) violations.push(`${id} (admitted at +${s.admittedAt - T0}) granted epoch ${g.epoch}, first sealed at +${first - T0}`);
        }
        // The newest message sealed more than the window before its admission is unreadable; the last one is readable.
        const tooOld = sealed.filter((m) => m.at < s.admittedAt - window).at(-1)!;
        const outcome = await read(s.km, tooOld.bytes);
        if (outcome !== 'UNKNOWN_EPOCH') violations.push(`${id} read a message sealed ${s.admittedAt - tooOld.at} ms before its admission: ${outcome}`);
        if ((await read(s.km, sealed.at(-1)!.bytes)) !== 'after the burst') violations.push(`${id} cannot read the last message`);
      }
      let spacedOut = true;
      for (let i = 1; i < joins.length; i++) spacedOut &&= joins[i]!.at - joins[i - 1]!.at > window;
      console.log(
        `100 joins ${spacingMs} ms apart, joinWindowMs ${window}: ${joins.length} join rotations of plant/line1/# (at +${joins.map((e) => e.at - joins[0]!.at).join(' ms, +')} ms); ` +
          `grants for the channel: ${returned} to the joiners + ${eventGrants} in join rotations = ${((returned + eventGrants) / 100).toFixed(2)} per join`,
      );
      for (const s of subs) await s.km.close();
      return { joinRotations: joins.length, spacedOut, violations: violations.length, first: violations.slice(0, 3) };
    };
    // Within one window: one rotation (the first join), shared by all.
    expect(await burst(10)).toEqual({ joinRotations: 1, spacedOut: true, violations: 0, first: [] });
    // Over 2.5 windows: at most one rotation per window.
    const spread = await burst(25);
    expect(spread.joinRotations).toBeLessThanOrEqual(3);
    expect(spread).toMatchObject({ spacedOut: true, violations: 0, first: [] });
  }, 120_000);
});
