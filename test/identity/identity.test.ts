// Identities: generation (random and from a seed), subject id rules, export
// and import, consistency checks on import, and wiping.
import { beforeAll, describe, expect, it } from 'vitest';
import { falcon512, init, mlKem768, shake256 } from '../../bindings/index.js';
import { ConfigError, SecurityError } from '../../src/errors.js';
import {
  Identity,
  MAX_IDENTITY_EXPORT_BYTES,
  destroyIdentity,
  exportIdentity,
  generateIdentity,
  importIdentity,
  validateSubjectId,
} from '../../src/identity/index.js';
import { flipBit, hex, seq } from '../support/helpers.js';

let alice: Identity;
let aliceBytes: Uint8Array;

beforeAll(async () => {
  await init();
  alice = await generateIdentity('alice');
  aliceBytes = await exportIdentity(alice);
});

async function x25519Shared(privateKey: CryptoKey, publicKey: Uint8Array): Promise<string> {
  const pub = await crypto.subtle.importKey('raw', new Uint8Array(publicKey), { name: 'X25519' }, true, []);
  return hex(new Uint8Array(await crypto.subtle.deriveBits({ name: 'X25519', public: pub }, privateKey, 256)));
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof SecurityError) return err.code;
    throw err;
  }
  return 'none';
}

async function asyncCodeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SecurityError) return err.code;
    throw err;
  }
  return 'none';
}

describe('validateSubjectId', () => {
  it.each(['a', 'plc-7', 'Ünïcødé', '😀', 'x'.repeat(128), 'é'.repeat(64), 'a b', '$x'])('accepts %j', (id) => {
    expect(validateSubjectId(id)).toBe(id);
  });

  it.each([
    ['', /must not be empty/],
    ['x'.repeat(129), /at most 128 UTF-8 bytes, got 129/],
    ['é'.repeat(65), /at most 128 UTF-8 bytes, got 130/],
    ['a/b', /must not contain '\/'/],
    ['a+', /must not contain '\+'/],
    ['#', /must not contain '#'/],
    ['a\u0000', /control character U\+0000/],
    ['a\nb', /control character U\+000a/],
    ['\u007f', /control character U\+007f/],
    ['\u0085', /control character U\+0085/],
    ['\ufeffadmin', /U\+FEFF/],
    ['a\ud800', /lone surrogate/],
    ['\udc00a', /lone surrogate/],
  ])('rejects %j', (id, message) => {
    expect(() => validateSubjectId(id)).toThrow(RangeError);
    expect(() => validateSubjectId(id)).toThrow(message);
  });

  it('rejects non-strings with TypeError', () => {
    expect(() => validateSubjectId(7)).toThrow(TypeError);
    expect(() => validateSubjectId(null)).toThrow(TypeError);
  });
});

describe('generateIdentity', () => {
  it('gives key pairs of the declared sizes that work', async () => {
    expect(alice.id).toBe('alice');
    expect(alice.publicKeys.falcon.length).toBe(897);
    expect(alice.publicKeys.mlKem.length).toBe(1184);
    expect(alice.publicKeys.x25519.length).toBe(32);
    expect(alice.falcon.secretKey.length).toBe(1281);
    expect(alice.mlKem.secretKey.length).toBe(2400);
    const msg = seq(40);
    expect(falcon512.verify(falcon512.sign(msg, alice.falcon.secretKey), msg, alice.publicKeys.falcon)).toBe(true);
    const { ciphertext, sharedSecret } = mlKem768.encapsulate(alice.publicKeys.mlKem);
    expect(hex(mlKem768.decapsulate(ciphertext, alice.mlKem.secretKey))).toBe(hex(sharedSecret));
    const peer = (await crypto.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
    const peerPublic = new Uint8Array(await crypto.subtle.exportKey('raw', peer.publicKey));
    const mine = await x25519Shared(alice.x25519.privateKey, peerPublic);
    expect(mine).toBe(await x25519Shared(peer.privateKey, alice.publicKeys.x25519));
  });

  it('is random without a seed', async () => {
    const other = await generateIdentity('alice');
    expect(hex(other.publicKeys.falcon)).not.toBe(hex(alice.publicKeys.falcon));
    expect(hex(other.publicKeys.x25519)).not.toBe(hex(alice.publicKeys.x25519));
  });

  it('is deterministic with a seed, separated by id and by key', async () => {
    const seed = seq(32, 1);
    const a = await generateIdentity('dev-1', { seed });
    const b = await generateIdentity('dev-1', { seed });
    const c = await generateIdentity('dev-2', { seed });
    for (const k of ['falcon', 'mlKem', 'x25519'] as const) {
      expect(hex(a.publicKeys[k])).toBe(hex(b.publicKeys[k]));
      expect(hex(a.publicKeys[k])).not.toBe(hex(c.publicKeys[k]));
    }
    expect(hex(await exportIdentity(a))).toBe(hex(await exportIdentity(b)));
    expect(seed).toEqual(seq(32, 1)); // input not mutated
    // Known answer: a digest of the public keys pins the derivation (labels, framing, PKCS#8 path).
    const digest = hex(shake256(new Uint8Array([...a.publicKeys.falcon, ...a.publicKeys.mlKem, ...a.publicKeys.x25519]), 16));
    expect(digest).toBe('7e17943ccfdc522aa71f469faee94375');
  });

  it('derives the X25519 public key that matches the private scalar', async () => {
    const a = await generateIdentity('dev-1', { seed: seq(64) });
    const peer = (await crypto.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
    const peerPublic = new Uint8Array(await crypto.subtle.exportKey('raw', peer.publicKey));
    expect(await x25519Shared(a.x25519.privateKey, peerPublic)).toBe(await x25519Shared(peer.privateKey, a.publicKeys.x25519));
  });

  it('checks its arguments', async () => {
    await expect(generateIdentity('a/b')).rejects.toThrow(RangeError);
    await expect(generateIdentity(5 as unknown as string)).rejects.toThrow(TypeError);
    await expect(generateIdentity('a', { seed: seq(31) })).rejects.toThrow(/32 to 256 bytes, got 31/);
    await expect(generateIdentity('a', { seed: seq(257) })).rejects.toThrow(RangeError);
    await expect(generateIdentity('a', { seed: 'x' as unknown as Uint8Array })).rejects.toThrow(TypeError);
    expect(() => new Identity(Symbol('x') as never, 'a', alice.falcon, alice.mlKem, alice.x25519)).toThrow(TypeError);
  });

  it('can keep the X25519 key non-extractable, which exportIdentity refuses', async () => {
    const fixed = await generateIdentity('locked', { seed: seq(32), extractable: false });
    expect(fixed.x25519.privateKey.extractable).toBe(false);
    const random = await generateIdentity('locked', { extractable: false });
    expect(random.x25519.privateKey.extractable).toBe(false);
    await expect(exportIdentity(random)).rejects.toThrow(/not extractable/);
  });
});

describe('exportIdentity / importIdentity', () => {
  it('round-trips every key', async () => {
    const back = await importIdentity(aliceBytes);
    expect(back.id).toBe('alice');
    expect(hex(back.falcon.secretKey)).toBe(hex(alice.falcon.secretKey));
    expect(hex(back.mlKem.secretKey)).toBe(hex(alice.mlKem.secretKey));
    for (const k of ['falcon', 'mlKem', 'x25519'] as const) expect(hex(back.publicKeys[k])).toBe(hex(alice.publicKeys[k]));
    expect(hex(await exportIdentity(back))).toBe(hex(aliceBytes));
    const peer = await generateIdentity('peer');
    expect(await x25519Shared(back.x25519.privateKey, peer.publicKeys.x25519)).toBe(
      await x25519Shared(alice.x25519.privateKey, peer.publicKeys.x25519),
    );
  });

  it('has the documented layout and size', () => {
    expect([aliceBytes[0], aliceBytes[1], aliceBytes[2]]).toEqual([0x49, 1, 1]);
    expect(aliceBytes.length).toBe(3 + 2 + 5 + 897 + 1281 + 1184 + 2400 + 32 + 32);
    expect(MAX_IDENTITY_EXPORT_BYTES).toBe(3 + 2 + 128 + 897 + 1281 + 1184 + 2400 + 64);
  });

  it('does not modify its input and can import non-extractable', async () => {
    const copy = aliceBytes.slice();
    const back = await importIdentity(copy, { extractable: false });
    expect(copy).toEqual(aliceBytes);
    expect(back.x25519.privateKey.extractable).toBe(false);
  });

  it('rejects every truncation and any extension', async () => {
    for (let n = 0; n < aliceBytes.length; n += n < 16 ? 1 : 97) {
      expect(await asyncCodeOf(importIdentity(aliceBytes.subarray(0, n)))).toBe('MALFORMED');
    }
    expect(await asyncCodeOf(importIdentity(aliceBytes.subarray(0, aliceBytes.length - 1)))).toBe('MALFORMED');
    expect(await asyncCodeOf(importIdentity(new Uint8Array([...aliceBytes, 0])))).toBe('MALFORMED');
    expect(await asyncCodeOf(importIdentity(new Uint8Array(MAX_IDENTITY_EXPORT_BYTES + 1)))).toBe('TOO_LARGE');
  });

  it('rejects wrong type, version and suite bytes, and a bad id', async () => {
    expect(await asyncCodeOf(importIdentity(flipBit(aliceBytes, 0)))).toBe('MALFORMED');
    expect(await asyncCodeOf(importIdentity(flipBit(aliceBytes, 8)))).toBe('UNSUPPORTED_VERSION');
    expect(await asyncCodeOf(importIdentity(flipBit(aliceBytes, 16)))).toBe('UNSUPPORTED_VERSION');
    const badId = aliceBytes.slice();
    badId[5] = 0x2f; // 'alice' -> '/lice'
    expect(await asyncCodeOf(importIdentity(badId))).toBe('MALFORMED');
    expect(await asyncCodeOf(importIdentity('x' as unknown as Uint8Array))).toBe('MALFORMED');
  });

  it('rejects key pairs that do not belong together (MALFORMED)', async () => {
    const idEnd = 3 + 2 + 5;
    const falconSk = idEnd + 897;
    const kemPk = falconSk + 1281;
    const kemSk = kemPk + 1184;
    const xPk = kemSk + 2400;
    const xSk = xPk + 32;
    const cases: Array<[string, number]> = [
      ['falcon public key', idEnd + 100],
      ['falcon secret key', falconSk + 600],
      ['ML-KEM public key', kemPk + 10],
      ['ML-KEM secret key (embedded public key)', kemSk + 1152 + 5],
      ['ML-KEM secret key (decryption key)', kemSk + 7],
      ['X25519 public key', xPk + 3],
      ['X25519 private key', xSk + 3],
    ];
    for (const [what, byte] of cases) {
      const bad = flipBit(aliceBytes, byte * 8 + 1);
      const err = await importIdentity(bad).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(SecurityError);
      expect((err as SecurityError).code, what).toBe('MALFORMED');
    }
  });
});

describe('destroyIdentity', () => {
  it('wipes the secret keys and refuses further secret use', async () => {
    const victim = await importIdentity(aliceBytes);
    const falconSk = victim.falcon.secretKey;
    const kemSk = victim.mlKem.secretKey;
    destroyIdentity(victim);
    expect(victim.destroyed).toBe(true);
    expect(falconSk.every((b) => b === 0)).toBe(true);
    expect(kemSk.every((b) => b === 0)).toBe(true);
    expect(() => victim.falcon).toThrow(ConfigError);
    expect(() => victim.mlKem).toThrow(/destroyed/);
    expect(() => victim.x25519).toThrow(ConfigError);
    await expect(exportIdentity(victim)).rejects.toThrow(ConfigError);
    expect(victim.publicKeys.falcon.length).toBe(897); // public parts stay readable
    destroyIdentity(victim); // idempotent
    expect(codeOf(() => victim.id)).toBe('none');
  });
});
