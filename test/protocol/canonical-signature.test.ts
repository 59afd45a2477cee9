// Security review finding 8 (issue 19): one valid encoding per signed message, and manifests de-duplicated on what
// they sign. A copy of an authentic batch manifest or signed group message whose Falcon-512 signature is zero-padded
// to 666 bytes (the padded set's length; the length prefix adjusted) is BAD_SIGNATURE. A second manifest over the
// same signed bytes (the publisher's key signing the same batch again: Falcon signing is randomised) is the
// duplicate it is: it takes no room among the stored manifests.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { falconPadded512 } from '../../bindings/index.js';
import type { TrustStore } from '../../src/certs/trust-store.js';
import { AmortisedReceiver, decodeManifest, sealManifest, verifyManifest } from '../../src/protocol/amortised.js';
import { decodeGroup } from '../../src/protocol/group.js';
import { KeyManager, type KeyManagerOptions } from '../../src/protocol/key-manager.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { ByteWriter } from '../../src/wire/codec.js';
import { seq } from '../support/helpers.js';
import { T0, codeOf, manualClock, text, utf8, world, type Party, type World } from './fixtures.js';

const PADDED = falconPadded512.lengths.signature; // 666
const TOPIC = 'plant/line1/pressure';
const TOPIC2 = 'plant/line1/flow';
const CHANNEL = 'plant/line1/#';

let w: World;
let trust: TrustStore;
const open: KeyManager[] = [];

beforeAll(async () => {
  w = await world();
  trust = await w.trust();
});

afterEach(async () => {
  for (const km of open.splice(0)) await km.close();
});

async function km(party: Party, extra: Partial<KeyManagerOptions> = {}): Promise<KeyManager> {
  const m = await KeyManager.open({ identity: party.identity, certificate: party.cert, trust, storage: new MemoryStorage(), clock: () => T0, regrantIntervalMs: 0, ...extra });
  open.push(m);
  return m;
}

async function pair(extra: Partial<KeyManagerOptions> = {}): Promise<{ plc: KeyManager; hmi: KeyManager; clock: ReturnType<typeof manualClock> }> {
  const clock = manualClock();
  const plc = await km(w.plc, { clock, amortise: { channels: [CHANNEL], maxBatch: 64, maxDelayMs: 25 } });
  const hmi = await km(w.hmi, { clock, acceptAmortised: true, ...extra });
  for (const g of await plc.handleKeyRequest(hmi.keyRequest('plc-1', CHANNEL))) await hmi.acceptGrant(g.bytes, g.topic);
  return { plc, hmi, clock };
}

/** The same message with its trailing `bytes16(signature)` re-encoded with the signature zero-padded to `length`. */
function padSignature(bytes: Uint8Array, signatureLength: number, length = PADDED): Uint8Array {
  const body = bytes.subarray(0, bytes.length - 2 - signatureLength);
  expect(((bytes[body.length]! << 8) | bytes[body.length + 1]!) === signatureLength).toBe(true);
  const sig = new Uint8Array(length);
  sig.set(bytes.subarray(bytes.length - signatureLength));
  return new ByteWriter(body.length + 2 + length).fixed(body, body.length, 'body').bytes16(sig).finish();
}

async function amortisedBatch(plc: KeyManager, topic: string, n: number): Promise<{ msgs: Uint8Array[]; manifest: Uint8Array }> {
  const msgs: Uint8Array[] = [];
  for (let i = 0; i < n; i++) msgs.push(await plc.sealData(topic, utf8(`${topic} ${i}`)));
  const manifests = plc.takeManifests(true);
  expect(manifests.length).toBe(1);
  return { msgs, manifest: manifests[0]!.bytes };
}

const payloads = (r: { released: readonly { payload: Uint8Array }[] }): string[] => r.released.map((m) => text(m.payload));

describe('signatures zero-padded to 666 bytes', () => {
  it('a batch manifest: verifyManifest and acceptManifest say BAD_SIGNATURE; the original then releases its batch', async () => {
    const { plc, hmi } = await pair();
    const { msgs, manifest } = await amortisedBatch(plc, TOPIC, 3);
    const copy = padSignature(manifest, decodeManifest(manifest).signature.length);
    expect(decodeManifest(copy).signature.length).toBe(PADDED); // it parses: only the signature check can refuse it
    const opts = { receivedTopic: TOPIC, trust, now: T0, maxAgeMs: 60_000, clockSkewMs: 1_000 };
    expect(await codeOf(() => verifyManifest(copy, opts))).toBe('BAD_SIGNATURE');
    expect(await codeOf(() => verifyManifest(manifest, opts))).toBe('ok');
    for (const m of msgs) await hmi.openAmortised(m, TOPIC);
    expect(await codeOf(hmi.acceptManifest(copy, TOPIC))).toBe('BAD_SIGNATURE');
    expect(payloads(await hmi.acceptManifest(manifest, TOPIC))).toEqual([0, 1, 2].map((i) => `${TOPIC} ${i}`));
  });

  it('a signed group message: BAD_SIGNATURE; the original is still delivered', async () => {
    const clock = manualClock();
    const plc = await km(w.plc, { clock });
    const hmi = await km(w.hmi, { clock });
    for (const g of await plc.handleKeyRequest(hmi.keyRequest('plc-1', CHANNEL))) await hmi.acceptGrant(g.bytes, g.topic);
    const signed = await plc.sealData(TOPIC, utf8('signed'), { signed: true });
    const copy = padSignature(signed, decodeGroup(signed).signature.length);
    expect(decodeGroup(copy).signature.length).toBe(PADDED);
    expect(await codeOf(hmi.openData(copy, TOPIC))).toBe('BAD_SIGNATURE');
    expect(text((await hmi.openData(signed, TOPIC)).payload)).toBe('signed');
  });
});

describe('manifests are de-duplicated on a hash of their signed bytes, not on their signature', () => {
  it('a second signature over an accepted manifest’s bytes is a duplicate: it evicts no other manifest', async () => {
    // Room for two manifests. Before the fix, each re-signed copy counted as a new manifest and pushed the others out:
    // the second stream's messages then found no manifest and were held (and later rejected) instead of released.
    const { plc, hmi, clock } = await pair({ acceptAmortised: { maxManifests: 2 } });
    const a = await amortisedBatch(plc, TOPIC, 2);
    const b = await amortisedBatch(plc, TOPIC2, 2);
    expect(await hmi.acceptManifest(a.manifest, TOPIC)).toEqual({ released: [], rejected: [] });
    clock.advance(1);
    expect(await hmi.acceptManifest(b.manifest, TOPIC2)).toEqual({ released: [], rejected: [] });
    const f = decodeManifest(a.manifest);
    for (const s of [1, 2]) {
      clock.advance(1); // each copy newer than both stored manifests: a copy counted as new evicts the oldest
      const again = sealManifest({ sender: w.plc.identity, channel: f.channel, epoch: f.epoch, topic: TOPIC, entries: f.entries, now: f.timestamp, signSeed: seq(88, s) });
      expect(decodeManifest(again).tbs).toEqual(f.tbs);
      expect(decodeManifest(again).signature).not.toEqual(f.signature);
      expect(await hmi.acceptManifest(again, TOPIC)).toEqual({ released: [], rejected: [] });
    }
    // Both stored manifests still cover their messages: each is released as it arrives.
    for (const [i, m] of b.msgs.entries()) expect(payloads(await hmi.openAmortised(m, TOPIC2))).toEqual([`${TOPIC2} ${i}`]);
    for (const [i, m] of a.msgs.entries()) expect(payloads(await hmi.openAmortised(m, TOPIC))).toEqual([`${TOPIC} ${i}`]);
  });

  it('AmortisedReceiver: the same key is ignored, whatever else differs', () => {
    const d = (n: number): Uint8Array => new Uint8Array(32).fill(n);
    const r = new AmortisedReceiver<string>(1_000, 10, 2);
    r.hold({ stream: 's', seq: 1, digest: d(1), heldAt: 0, message: 's:1' });
    expect(r.addManifest('s', [{ seq: 1, digest: d(1) }], d(100), 0).matched.map((h) => h.message)).toEqual(['s:1']);
    expect(r.addManifest('t', [{ seq: 1, digest: d(1) }], d(101), 0)).toEqual({ matched: [], forged: [] });
    // The same signed bytes again (same key): ignored, so stream t's manifest stays.
    r.addManifest('s', [{ seq: 1, digest: d(1) }], d(100), 0);
    r.addManifest('s', [{ seq: 1, digest: d(1) }], d(100), 0);
    expect(r.coverage('t', 1, d(1))).toBe('match');
  });
});
