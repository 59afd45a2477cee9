// classify(): what a payload claims to be, from its header bytes alone. Real
// messages of every kind (the protocol vectors, an amortised envelope and a
// manifest), then the rule itself: every type byte, every flags byte of a
// group envelope (checked against isAmortisedEnvelope, the amortised mode's
// own statement of the rule), truncated and empty inputs, and the promise of
// reading at most the first four bytes without throwing.
import { beforeAll, describe, expect, it } from 'vitest';
import { classify, type PayloadKind } from '../../src/protocol/classify.js';
import { ENVELOPE_TYPE, FLAGS, MANIFEST_TYPE, deriveGroupKeys, isAmortisedEnvelope, sealAmortised, sealManifest } from '../../src/protocol/index.js';
import { generateVectors, vectorWorld, type ProtocolVector } from '../../scripts/protocol-vectors.js';
import { T0, utf8, world, type World } from './fixtures.js';

let vectors: ProtocolVector[];
let w: World;

beforeAll(async () => {
  vectors = await generateVectors(await vectorWorld());
  w = await world();
});

const TOPIC = 'plant/line1/pressure';
const CHANNEL = 'plant/line1/#';

describe('classify: real messages', () => {
  it('tells each protocol vector by its kind', () => {
    const expected: Record<ProtocolVector['id'], PayloadKind> = { direct: 'direct', grant: 'grant', group: 'group', 'key-request': 'keyRequest' };
    expect(vectors.map((v) => v.id).sort()).toEqual(Object.keys(expected).sort());
    for (const v of vectors) expect(classify(v.bytes), v.id).toBe(expected[v.id]);
  });

  it('tells an amortised envelope and a batch manifest', async () => {
    const keys = await deriveGroupKeys(new Uint8Array(32).fill(7), 'plc-1', CHANNEL, 1);
    const amortised = (await sealAmortised({ sender: 'plc-1', keys, topic: TOPIC, payload: utf8('42 bar'), seq: 1, now: T0 })).bytes;
    expect(classify(amortised)).toBe('amortised');
    const manifest = sealManifest({ sender: w.plc.identity, channel: CHANNEL, epoch: 1, topic: TOPIC, entries: [{ seq: 1, digest: new Uint8Array(32) }], now: T0 });
    expect(classify(manifest)).toBe('manifest');
  });
});

describe('classify: the rule', () => {
  it('maps every first byte to one kind (others unknown), whatever follows', () => {
    const kinds = new Map<number, PayloadKind>([
      [ENVELOPE_TYPE.direct, 'direct'],
      [ENVELOPE_TYPE.grant, 'grant'],
      [ENVELOPE_TYPE.group, 'group'],
      [ENVELOPE_TYPE.keyRequest, 'keyRequest'],
      // A manifest's type byte is ENVELOPE_TYPE.manifest; MANIFEST_TYPE (amortised mode's name for it) must be the same.
      [MANIFEST_TYPE, 'manifest'],
    ]);
    for (let t = 0; t < 256; t++) {
      const header = Uint8Array.of(t, 1, 1, FLAGS.signed, 0, 0);
      expect(classify(header), `type 0x${t.toString(16)}`).toBe(kinds.get(t) ?? 'unknown');
      expect(classify(Uint8Array.of(t)), `type 0x${t.toString(16)} alone`).toBe(kinds.get(t) ?? 'unknown');
    }
  });

  it('a group envelope is amortised exactly when isAmortisedEnvelope says so (every flags byte, every length)', () => {
    for (let flags = 0; flags < 256; flags++) {
      const header = Uint8Array.of(ENVELOPE_TYPE.group, 1, 1, flags, 9);
      for (let n = 1; n <= header.length; n++) {
        const bytes = header.subarray(0, n);
        expect(classify(bytes) === 'amortised', `flags 0x${flags.toString(16)}, ${n} bytes`).toBe(isAmortisedEnvelope(bytes));
      }
    }
    expect(classify(Uint8Array.of(ENVELOPE_TYPE.group, 1, 1, FLAGS.amortised))).toBe('amortised');
    expect(classify(Uint8Array.of(ENVELOPE_TYPE.group, 1, 1, FLAGS.signed | FLAGS.amortised))).toBe('group');
  });

  it('truncated headers are told by what they have; the version and suite are the decoders\' to check', () => {
    expect(classify(Uint8Array.of(ENVELOPE_TYPE.group, 1, 1))).toBe('group');
    expect(classify(Uint8Array.of(ENVELOPE_TYPE.direct))).toBe('direct');
    expect(classify(Uint8Array.of(MANIFEST_TYPE, 0xff))).toBe('manifest');
    expect(classify(Uint8Array.of(ENVELOPE_TYPE.group, 9, 9, FLAGS.amortised))).toBe('amortised');
  });

  it('an empty payload is empty', () => {
    expect(classify(new Uint8Array(0))).toBe('empty');
    expect(classify(new Uint8Array(8).subarray(8))).toBe('empty');
  });

  it('reads the first four bytes at most, never throws, and does not modify its input', () => {
    const big = new Uint8Array(1 << 20).fill(0xab);
    big.set([ENVELOPE_TYPE.group, 1, 1, FLAGS.amortised]);
    const read = new Set<PropertyKey>();
    const watched = new Proxy(big, {
      get(target, key) {
        if (typeof key === 'string' && /^\d+$/.test(key)) read.add(Number(key));
        const value = Reflect.get(target, key, target) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    expect(classify(watched)).toBe('amortised');
    expect([...read].every((i) => (i as number) < 4)).toBe(true);
    expect(big[3]).toBe(FLAGS.amortised);
    // Any view, offset into a larger buffer, is read from its own start.
    const shifted = new Uint8Array(16);
    shifted.set([0x00, ENVELOPE_TYPE.direct], 0);
    expect(classify(shifted.subarray(1))).toBe('direct');
  });
});
