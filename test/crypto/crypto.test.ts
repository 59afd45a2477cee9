// The WebCrypto wrappers against published vectors, and the hybrid KEM.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, mlKem768 } from '../../bindings/index.js';
import { hybridDecapsulate, hybridEncapsulate } from '../../src/crypto/hybrid-kem.js';
import { seededRandom } from '../../src/crypto/random.js';
import {
  aesGcmOpen,
  aesGcmSeal,
  hkdf,
  importAesKey,
  sha256,
  x25519Derive,
  x25519Generate,
  x25519ImportPrivate,
  x25519PublicFromPrivate,
} from '../../src/crypto/webcrypto.js';
import { SecurityError } from '../../src/errors.js';
import { concatBytes } from '../../src/wire/bytes.js';
import { fromHex, hex } from '../support/helpers.js';

beforeAll(async () => {
  await init();
});

describe('webcrypto wrappers', () => {
  it('X25519 matches RFC 7748 section 6.1', async () => {
    const alice = await x25519ImportPrivate(fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    expect(hex(await x25519PublicFromPrivate(alice))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    const bobPublic = fromHex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    expect(hex(await x25519Derive(alice, bobPublic))).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
    const fromSeed = await x25519Generate(fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    expect(hex(fromSeed.publicKey)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  });

  it('X25519 refuses a small-order public key with DECRYPT_FAILED', async () => {
    const k = await x25519Generate();
    await expect(x25519Derive(k.privateKey, new Uint8Array(32))).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
  });

  it('HKDF-SHA-256 matches RFC 5869 test case 1', async () => {
    const okm = await hkdf(fromHex('0b'.repeat(22)), fromHex('000102030405060708090a0b0c'), fromHex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(hex(okm)).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });

  it('SHA-256 of "abc"', async () => {
    expect(hex(await sha256(new TextEncoder().encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('AES-256-GCM matches the McGrew-Viega test case 16 (AAD)', async () => {
    const key = await importAesKey(fromHex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308'));
    const iv = fromHex('cafebabefacedbaddecaf888');
    const pt = fromHex(
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
    );
    const aad = fromHex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
    const ct = await aesGcmSeal(key, iv, pt, aad);
    expect(hex(ct)).toBe(
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' +
        '76fc6ece0f4e1768cddf8853bb2d551b',
    );
    expect(await aesGcmOpen(key, iv, ct, aad)).toEqual(pt);
    const bad = ct.slice();
    bad[0]! ^= 1;
    await expect(aesGcmOpen(key, iv, bad, aad)).rejects.toBeInstanceOf(SecurityError);
    await expect(aesGcmOpen(key, iv, ct, aad.subarray(1))).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
  });

  it('concatBytes', () => {
    expect(concatBytes(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3))).toEqual(Uint8Array.of(1, 2, 3));
  });
});

describe('hybrid KEM (ML-KEM-768 + X25519)', () => {
  async function recipient() {
    const kem = mlKem768.keygen();
    const x = await x25519Generate();
    return { pk: { mlKem: kem.publicKey, x25519: x.publicKey }, sk: { mlKemSecretKey: kem.secretKey, x25519PrivateKey: x.privateKey } };
  }

  it('both sides get the same 32-byte secret', async () => {
    const r = await recipient();
    const enc = await hybridEncapsulate(r.pk);
    expect(enc.mlKemCiphertext.length).toBe(1088);
    expect(enc.x25519Ciphertext.length).toBe(32);
    const ss = await hybridDecapsulate(enc.x25519Ciphertext, enc.mlKemCiphertext, r.sk);
    expect(ss).toEqual(enc.sharedSecret);
    expect(ss.length).toBe(32);
  });

  it('is deterministic given its randomness, and equals the documented combiner', async () => {
    const r = await recipient();
    const a = await hybridEncapsulate(r.pk, seededRandom(Uint8Array.of(1)));
    const b = await hybridEncapsulate(r.pk, seededRandom(Uint8Array.of(1)));
    expect(a).toEqual(b);
    // Recompute: ikm = ss_M || ss_X || ct_X || pk_X || SHA-256(ct_M); HKDF(salt empty, info label).
    const rand = seededRandom(Uint8Array.of(1));
    const eph = await x25519Generate(rand(32));
    const enc = mlKem768.encapsulate(r.pk.mlKem, rand(32));
    const ssX = await x25519Derive(eph.privateKey, r.pk.x25519);
    const ikm = concatBytes(enc.sharedSecret, ssX, eph.publicKey, r.pk.x25519, await sha256(enc.ciphertext));
    const want = await hkdf(ikm, new Uint8Array(0), new TextEncoder().encode('pqc-iiot/v1/hybrid-kem/ml-kem-768+x25519'), 32);
    expect(a.sharedSecret).toEqual(want);
  });

  it('a modified ciphertext (either half) gives an unrelated secret', async () => {
    const r = await recipient();
    const enc = await hybridEncapsulate(r.pk);
    const ctM = enc.mlKemCiphertext.slice();
    ctM[100]! ^= 1;
    expect(await hybridDecapsulate(enc.x25519Ciphertext, ctM, r.sk)).not.toEqual(enc.sharedSecret);
    const ctX = enc.x25519Ciphertext.slice();
    ctX[5]! ^= 1;
    expect(await hybridDecapsulate(ctX, enc.mlKemCiphertext, r.sk)).not.toEqual(enc.sharedSecret);
  });

  it('checks lengths', async () => {
    const r = await recipient();
    await expect(hybridEncapsulate({ mlKem: r.pk.mlKem.subarray(1), x25519: r.pk.x25519 })).rejects.toThrow(RangeError);
    await expect(hybridDecapsulate(new Uint8Array(31), new Uint8Array(1088), r.sk)).rejects.toThrow(RangeError);
  });

  it('seededRandom is deterministic and request-separated', () => {
    const a = seededRandom(Uint8Array.of(7));
    const b = seededRandom(Uint8Array.of(7));
    const a1 = a(16);
    expect(a1).toEqual(b(16));
    expect(a(16)).not.toEqual(a1);
  });
});
