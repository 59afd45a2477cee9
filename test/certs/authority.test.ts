// CertificateAuthority: what its factories need before init() (they are
// synchronous, so they cannot load the core; generateIdentity() is async and
// can), and its signing key: expanded once, the same bytes as signing from the
// encoded key for a given seed, wiped by destroy().
//
// The first describe must run before anything in this file calls init(): each
// test file gets its own module graph (vitest forks), so the core is not loaded yet.

import { describe, expect, it } from 'vitest';
import { falcon1024, falcon512, init, isReady } from '../../bindings/index.js';
import { getCore } from '../../bindings/state.js';
import { CertificateAuthority, issueCertificate, type SignatureSuite } from '../../src/certs/certificate.js';
import { issueRevocationList } from '../../src/certs/revocation.js';
import { ConfigError } from '../../src/errors.js';
import { generateIdentity } from '../../src/identity/index.js';
import { LABELS, signedMessage } from '../../src/wire/labels.js';
import { seq } from '../support/helpers.js';

const DAY = 86_400_000;

describe('before init()', () => {
  it('generate() and fromKeys() throw ConfigError NOT_INITIALISED naming init(), after checking their arguments', () => {
    expect(isReady()).toBe(false);
    for (const make of [
      () => CertificateAuthority.generate('ca'),
      () => CertificateAuthority.generate('ca', { suite: 'falcon1024', seed: seq(32) }),
      // Not KEY_MISMATCH: the pair was never looked at.
      () => CertificateAuthority.fromKeys('ca', 'falcon512', { publicKey: new Uint8Array(897), secretKey: new Uint8Array(1281) }),
    ]) {
      let err: unknown;
      try {
        make();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect(err).toMatchObject({ name: 'ConfigError', code: 'NOT_INITIALISED' });
      expect((err as Error).message).toMatch(/await init\(\)/);
    }
    // A wrong argument is still a wrong argument.
    expect(() => CertificateAuthority.generate('bad/id')).toThrow(RangeError);
    expect(() => CertificateAuthority.generate('ca', { suite: 'rsa' as SignatureSuite })).toThrow(RangeError);
    expect(() => CertificateAuthority.generate('ca', { seed: seq(31) })).toThrow(RangeError);
    expect(isReady()).toBe(false); // none of them loaded the core
  });

  it('generateIdentity() initialises by itself; then generate() works', async () => {
    const identity = await generateIdentity('plc-init');
    expect(isReady()).toBe(true);
    const ca = CertificateAuthority.generate('ca-after-init');
    expect(ca.destroyed).toBe(false);
    identity.destroy();
    ca.destroy();
  });
});

describe('the signing key', () => {
  for (const suite of ['falcon512', 'falcon1024'] as SignatureSuite[]) {
    it(`${suite}: signatures with a seed are the bytes Signer.sign gives for that seed (known-answer vectors unchanged)`, async () => {
      await init();
      const signer = suite === 'falcon512' ? falcon512 : falcon1024;
      const keys = signer.keygen(seq(48, 5));
      const secretKey = keys.secretKey.slice(); // fromKeys keeps (and destroy wipes) the array it is given
      const ca = CertificateAuthority.fromKeys(`ca-${suite}`, suite, { publicKey: keys.publicKey, secretKey });
      const signingSeed = seq(88, 11);
      const cert = issueCertificate(
        ca,
        {
          subject: 'dev-1',
          serial: 1,
          notBefore: 0,
          notAfter: DAY,
          keyEpoch: 1,
          publicKeys: { falcon: new Uint8Array(897), mlKem: new Uint8Array(1184), x25519: new Uint8Array(32) },
          publish: ['a/#'],
          subscribe: [],
        },
        { signingSeed },
      );
      expect(cert.signature).toEqual(signer.sign(signedMessage(LABELS.certificate, cert.tbs), keys.secretKey, signingSeed));
      const list = issueRevocationList(ca, { number: 3, issuedAt: DAY, entries: [{ kind: 'subject', subject: 'x' }] }, { signingSeed });
      expect(list.signature).toEqual(signer.sign(signedMessage(LABELS.revocationList, list.tbs), keys.secretKey, signingSeed));
      ca.destroy();
      expect(secretKey.every((b) => b === 0)).toBe(true);
    });

    it(`${suite}: the key is expanded once, kept, and zeroed and freed by destroy()`, async () => {
      await init();
      const core = getCore();
      const expandedLength = (suite === 'falcon512' ? falcon512 : falcon1024).lengths.expandedKey;
      const rawFree = core.rawFree;
      const freed: { ptr: number; zero: boolean }[] = [];
      core.rawFree = (ptr, len) => {
        if (len === expandedLength) freed.push({ ptr, zero: core.heap().subarray(ptr, ptr + len).every((b) => b === 0) });
        rawFree(ptr, len);
      };
      try {
        const ca = CertificateAuthority.generate(`ca-x-${suite}`, { suite });
        const fields = {
          subject: 'dev-2',
          serial: 1,
          notBefore: 0,
          notAfter: DAY,
          keyEpoch: 1,
          publicKeys: { falcon: new Uint8Array(897), mlKem: new Uint8Array(1184), x25519: new Uint8Array(32) },
          publish: [],
          subscribe: ['b/#'],
        };
        for (let i = 0; i < 3; i++) issueCertificate(ca, { ...fields, serial: i + 1 });
        expect(freed).toEqual([]); // kept between signatures
        ca.destroy();
        expect(freed).toEqual([{ ptr: expect.any(Number), zero: true }]);
        ca.destroy(); // idempotent
        expect(freed.length).toBe(1);
        expect(() => issueCertificate(ca, fields)).toThrow(expect.objectContaining({ code: 'DESTROYED' }));
      } finally {
        core.rawFree = rawFree;
      }
    });
  }

  it('fromKeys(): a mismatched pair is KEY_MISMATCH and leaves no expanded key behind', async () => {
    await init();
    const core = getCore();
    const rawFree = core.rawFree;
    let freed = 0;
    core.rawFree = (ptr, len) => {
      if (len === falcon512.lengths.expandedKey) freed++;
      rawFree(ptr, len);
    };
    try {
      const a = falcon512.keygen();
      const b = falcon512.keygen();
      expect(() => CertificateAuthority.fromKeys('ca', 'falcon512', { publicKey: b.publicKey, secretKey: a.secretKey })).toThrow(
        expect.objectContaining({ name: 'ConfigError', code: 'KEY_MISMATCH' }),
      );
      expect(freed).toBe(1); // the probe's expanded key
    } finally {
      core.rawFree = rawFree;
    }
  });
});
