// The amortised envelope's cipher, recomputed from docs/PROTOCOL.md ("Amortised
// envelope") with independent implementations: HKDF from WebCrypto, AES-256-CTR
// from node:crypto (OpenSSL), KMAC256 from @noble/hashes. Any drift between the
// document and src/protocol/amortised.ts (keys, labels, nonce, AAD, encoding of
// the MAC input, tag length) fails here.
import { createCipheriv } from 'node:crypto';
import { kmac256 } from '@noble/hashes/sha3-addons.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { init } from '../../bindings/index.js';
import { SecurityError } from '../../src/errors.js';
import { decodeAmortised, decryptAmortised, sealAmortised } from '../../src/protocol/amortised.js';
import { deriveGroupKeys, retireGroupKeys } from '../../src/protocol/group.js';
import { concat, leftEncode } from '../support/helpers.js';

const te = new TextEncoder();
const SENDER = 'plc-1';
const CHANNEL = 'plant/line1/#';
const TOPIC = 'plant/line1/pressure';
const EPOCH = 7;

function string16(s: string): Uint8Array {
  const b = te.encode(s);
  return new Uint8Array([b.length >> 8, b.length & 0xff, ...b]);
}

async function hkdf(ikm: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', ikm.slice().buffer, 'HKDF', false, ['deriveBits']);
  const params = { name: 'HKDF', hash: 'SHA-256', salt: new ArrayBuffer(0), info: info.slice().buffer };
  return new Uint8Array(await crypto.subtle.deriveBits(params, key, length * 8));
}



beforeAll(async () => {
  await init();
});

describe('amortised envelope cipher (docs/PROTOCOL.md)', () => {
  it('is AES-256-CTR then KMAC256 under the documented keys, nonce and AAD', async () => {
    const epochKey = crypto.getRandomValues(new Uint8Array(32));
    const keys = await deriveGroupKeys(epochKey, SENDER, CHANNEL, EPOCH);
    try {
      const ctx = concat(string16(SENDER), string16(CHANNEL), new Uint8Array([0, 0, 0, EPOCH]));
      const enc = await hkdf(epochKey, concat(te.encode('pqc-iiot/v1/amortised/enc-key'), ctx), 32);
      const mac = await hkdf(epochKey, concat(te.encode('pqc-iiot/v1/amortised/mac-key'), ctx), 32);
      const iv = await hkdf(epochKey, concat(te.encode('pqc-iiot/v1/group/nonce'), ctx), 12);
      for (const [seq, size] of [[0, 0], [1, 1], [2 ** 32 + 5, 256], [2 ** 53 - 1, 1000]] as const) {
        const payload = crypto.getRandomValues(new Uint8Array(size));
        const { bytes } = sealAmortised({ sender: SENDER, keys, topic: TOPIC, payload, seq, now: 1_700_000_000_000 });
        const f = decodeAmortised(bytes);
        const nonce = iv.slice();
        const hi = Math.floor(seq / 2 ** 32);
        const lo = seq >>> 0;
        for (let i = 0; i < 4; i++) {
          nonce[4 + i]! ^= (hi >>> (24 - 8 * i)) & 0xff;
          nonce[8 + i]! ^= (lo >>> (24 - 8 * i)) & 0xff;
        }
        const cipher = createCipheriv('aes-256-ctr', enc, concat(nonce, new Uint8Array(4)));
        const ct = new Uint8Array(Buffer.concat([cipher.update(payload), cipher.final()]));
        const aad = concat(f.header, string16(TOPIC));
        const tag = kmac256(mac, concat(nonce, leftEncode(aad.length * 8), aad, ct), { dkLen: 16, personalization: te.encode('pqc-iiot/v1/ae') });
        expect(f.ciphertext).toEqual(concat(ct, tag));
        expect(decryptAmortised(keys, f, TOPIC)).toEqual(payload);
      }
    } finally {
      retireGroupKeys(keys);
    }
  });

  it('a modified byte, another topic or another epoch key is DECRYPT_FAILED', async () => {
    const keys = await deriveGroupKeys(new Uint8Array(32).fill(1), SENDER, CHANNEL, EPOCH);
    const other = await deriveGroupKeys(new Uint8Array(32).fill(2), SENDER, CHANNEL, EPOCH);
    try {
      const { bytes } = sealAmortised({ sender: SENDER, keys, topic: TOPIC, payload: te.encode('21.5 bar'), seq: 9, now: 1_700_000_000_000 });
      const code = (fn: () => unknown): string | undefined => {
        try {
          fn();
          return undefined;
        } catch (err) {
          return err instanceof SecurityError ? err.code : String(err);
        }
      };
      const f = decodeAmortised(bytes);
      expect(code(() => decryptAmortised(other, f, TOPIC))).toBe('DECRYPT_FAILED');
      expect(code(() => decryptAmortised(keys, f, 'plant/line1/temp'))).toBe('DECRYPT_FAILED');
      for (let i = 0; i < bytes.length; i++) {
        const tampered = bytes.slice();
        tampered[i]! ^= 0x01;
        let g;
        try {
          g = decodeAmortised(tampered);
        } catch {
          continue; // a field the decoder rejects (lengths, type, flags): not the cipher's business
        }
        expect(code(() => decryptAmortised(keys, g, TOPIC)), `byte ${i}`).toBe('DECRYPT_FAILED');
      }
    } finally {
      retireGroupKeys(keys);
      retireGroupKeys(other);
    }
  });

  it('retired keys are freed and cannot seal', async () => {
    const keys = await deriveGroupKeys(new Uint8Array(32).fill(3), SENDER, CHANNEL, EPOCH);
    retireGroupKeys(keys);
    retireGroupKeys(keys); // idempotent
    expect(keys.ae.freed).toBe(true);
    expect(keys.iv.every((b) => b === 0)).toBe(true);
    expect(() => sealAmortised({ sender: SENDER, keys, topic: TOPIC, payload: new Uint8Array(4), seq: 1, now: 1 })).toThrow();
  });
});
