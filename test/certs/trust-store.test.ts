// The trust store: verification codes, anti-rollback, revocation, persistence,
// and "authenticate before mutating" (forged input never changes any state).
import { equalBytes } from '../../src/wire/bytes.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, SecurityError, StorageError } from '../../src/errors.js';
import { CertificateAuthority, issueCertificate, type Certificate } from '../../src/certs/certificate.js';
import { issueRevocationList, type RevocationEntry } from '../../src/certs/revocation.js';
import { TrustStore } from '../../src/certs/trust-store.js';
import { generateIdentity, type Identity } from '../../src/identity/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { Storage } from '../../src/storage/types.js';
import { flipBit, seq } from '../support/helpers.js';
import { DAY, T0, asyncCodeOf, codeOf, fixture, type Fixture } from './fixtures.js';

let fx: Fixture;
let plc2: Identity; // plc-7 after a key rotation
const NOW = T0 + 10 * DAY;

beforeAll(async () => {
  fx = await fixture();
  plc2 = await generateIdentity('plc-7', { seed: seq(32, 11) });
});

const certFor = (identity: Identity, serial: number, keyEpoch: number, extra: Partial<Certificate> = {}): Certificate =>
  issueCertificate(fx.ca, fx.fields(identity, { serial, keyEpoch, ...extra }));

const listOf = (number: number, entries: RevocationEntry[] = []) => issueRevocationList(fx.ca, { number, issuedAt: T0, entries });

/** Everything observable about a store's state, to compare before and after. */
async function snapshot(store: TrustStore, storage?: Storage): Promise<string> {
  const certs = store.subjects().sort().map((s) => `${s}:${store.peek(s)?.serial}:${store.highestKeyEpoch(s)}`);
  const stored = storage ? await Promise.all((await storage.keys('')).map(async (k) => `${k}=${(await storage.get(k))?.length}`)) : [];
  return JSON.stringify({ certs, list: store.revocationListNumber, stored });
}

describe('addCertificate and get', () => {
  it('accepts a valid certificate and serves it while valid', async () => {
    const store = await TrustStore.open(fx.ca.trustAnchor);
    const cert = certFor(fx.plc, 1, 1);
    const added = await store.addCertificate(cert.bytes, NOW);
    expect(added.subject).toBe('plc-7');
    expect(store.get('plc-7', NOW).serial).toBe(1);
    expect(store.highestKeyEpoch('plc-7')).toBe(1);
    expect(store.subjects()).toEqual(['plc-7']);
    expect(codeOf(() => store.get('hmi-1', NOW))).toBe('UNKNOWN_SENDER');
    expect(codeOf(() => store.get(42 as unknown as string, NOW))).toBe('UNKNOWN_SENDER');
    expect(codeOf(() => store.get('plc-7', T0 + 366 * DAY))).toBe('EXPIRED');
    expect(codeOf(() => store.get('plc-7', T0 - 1))).toBe('EXPIRED');
    expect(() => store.get('plc-7', Number.NaN)).toThrow(RangeError);
    await expect(store.addCertificate(cert.bytes, Number.NaN)).rejects.toThrow(RangeError);
    // The same certificate again is a no-op that still succeeds.
    expect(await store.addCertificate(cert, NOW)).toBe(added);
  });

  it('rejects with the right code and leaves every piece of state unchanged', async () => {
    const storage = new MemoryStorage();
    const store = await TrustStore.open(fx.ca.trustAnchor, { storage });
    await store.addCertificate(certFor(fx.plc, 5, 2).bytes, NOW);
    await store.applyRevocationList(listOf(3, [{ kind: 'subject', subject: 'revoked-one' }]).bytes);
    const before = await snapshot(store, storage);

    const good = certFor(fx.hmi, 1, 1);
    const other = CertificateAuthority.generate('root-ca', { seed: seq(32, 77) });
    const revokedIdentity = await generateIdentity('revoked-one', { seed: seq(32, 12) });
    const cases: Array<[string, Uint8Array, string]> = [
      ['flipped signature', flipBit(good.bytes, (good.bytes.length - 10) * 8), 'BAD_SIGNATURE'],
      ['flipped key', flipBit(good.bytes, 100 * 8), 'BAD_SIGNATURE'],
      ['another CA', issueCertificate(other, fx.fields(fx.hmi)).bytes, 'BAD_SIGNATURE'],
      ['truncated', good.bytes.subarray(0, 100), 'MALFORMED'],
      ['extended', new Uint8Array([...good.bytes, 0]), 'MALFORMED'],
      ['too large', new Uint8Array(30_000), 'TOO_LARGE'],
      ['version 2', Uint8Array.from(good.bytes, (b, i) => (i === 1 ? 2 : b)), 'UNSUPPORTED_VERSION'],
      ['expired', certFor(fx.hmi, 1, 1, { notBefore: T0 - 10 * DAY, notAfter: T0 }).bytes, 'EXPIRED'],
      ['not yet valid', certFor(fx.hmi, 1, 1, { notBefore: NOW + 1 }).bytes, 'EXPIRED'],
      ['revoked', certFor(revokedIdentity, 1, 1).bytes, 'REVOKED'],
      ['lower epoch', certFor(fx.plc, 9, 1).bytes, 'ROLLBACK'],
      ['same epoch, lower serial', certFor(fx.plc, 4, 2).bytes, 'ROLLBACK'],
      ['same epoch and serial, other content', certFor(fx.plc, 5, 2, { publish: ['#'] }).bytes, 'ROLLBACK'],
    ];
    for (const [what, bytes, code] of cases) {
      expect(await asyncCodeOf(() => store.addCertificate(bytes, NOW)), what).toBe(code);
      expect(codeOf(() => store.check(bytes, NOW)), what).toBe(code);
      expect(await snapshot(store, storage), what).toBe(before);
    }
    expect(store.get('plc-7', NOW).serial).toBe(5);
  });

  it('accepts a newer serial in the same epoch and a higher epoch, then refuses going back', async () => {
    const store = await TrustStore.open(fx.ca.trustAnchor);
    const first = certFor(fx.plc, 1, 1);
    await store.addCertificate(first.bytes, NOW);
    await store.addCertificate(certFor(fx.plc, 2, 1, { publish: [] }).bytes, NOW); // renewed, fewer rights
    expect(store.get('plc-7', NOW).publish).toEqual([]);
    expect(await asyncCodeOf(() => store.addCertificate(first.bytes, NOW))).toBe('ROLLBACK'); // old rights cannot come back
    await store.addCertificate(certFor(plc2, 3, 2).bytes, NOW); // key rotation
    expect(store.highestKeyEpoch('plc-7')).toBe(2);
    expect(store.get('plc-7', NOW).publicKeys.falcon).toEqual(plc2.publicKeys.falcon);
    expect(await asyncCodeOf(() => store.addCertificate(certFor(fx.plc, 4, 1).bytes, NOW))).toBe('ROLLBACK');
  });

  it('serialises concurrent additions: the highest epoch wins in any order', async () => {
    for (const order of [
      [1, 2, 3],
      [3, 2, 1],
      [2, 3, 1],
    ]) {
      const store = await TrustStore.open(fx.ca.trustAnchor, { storage: new MemoryStorage() });
      const certs = order.map((e) => certFor(e === 2 ? plc2 : fx.plc, e, e));
      const results = await Promise.all(certs.map((c) => asyncCodeOf(() => store.addCertificate(c.bytes, NOW))));
      expect(results.filter((r) => r === 'none').length).toBeGreaterThan(0);
      expect(results.every((r) => r === 'none' || r === 'ROLLBACK')).toBe(true);
      expect(store.highestKeyEpoch('plc-7'), order.join()).toBe(3);
    }
  });

  it('does not change memory when the storage fails, and keeps working afterwards', async () => {
    let fail = true;
    const inner = new MemoryStorage();
    const flaky: Storage = {
      get: (k) => inner.get(k),
      keys: (p) => inner.keys(p),
      delete: (k) => inner.delete(k),
      set: async (k, v) => {
        if (fail && !k.endsWith('anchor')) throw new StorageError('IO', 'disk full');
        return inner.set(k, v);
      },
    };
    const store = await TrustStore.open(fx.ca.trustAnchor, { storage: flaky });
    await expect(store.addCertificate(certFor(fx.plc, 1, 1).bytes, NOW)).rejects.toThrow(StorageError);
    expect(store.subjects()).toEqual([]);
    await expect(store.applyRevocationList(listOf(1).bytes)).rejects.toThrow(StorageError);
    expect(store.revocationListNumber).toBeUndefined();
    fail = false;
    await store.addCertificate(certFor(fx.plc, 1, 1).bytes, NOW);
    expect(store.subjects()).toEqual(['plc-7']);
    await store.applyRevocationList(listOf(1).bytes);
    expect(store.revocationListNumber).toBe(1);
  });
});

describe('revocation', () => {
  it('revokes, reports newly revoked subjects, and blocks re-adding', async () => {
    const store = await TrustStore.open(fx.ca.trustAnchor);
    await store.addCertificate(certFor(fx.plc, 10, 1).bytes, NOW);
    await store.addCertificate(certFor(fx.hmi, 11, 1).bytes, NOW);
    const first = await store.applyRevocationList(listOf(1, [{ kind: 'serial', subject: 'plc-7', serial: 10 }]).bytes);
    expect(first).toEqual({ number: 1, applied: true, newlyRevoked: ['plc-7'] });
    expect(codeOf(() => store.get('plc-7', NOW))).toBe('REVOKED');
    expect(codeOf(() => store.get('hmi-1', NOW))).toBe('none');
    expect(store.isRevoked(store.peek('plc-7')!)).toBe(true);
    expect(await asyncCodeOf(() => store.addCertificate(certFor(fx.plc, 10, 1).bytes, NOW))).toBe('REVOKED');
    // Revocation is checked before expiry in get().
    expect(codeOf(() => store.get('plc-7', T0 + 400 * DAY))).toBe('REVOKED');

    // A complete new list: plc-7 stays revoked (not newly), hmi-1 is newly revoked by epoch.
    const second = await store.applyRevocationList(
      listOf(2, [
        { kind: 'serial', subject: 'plc-7', serial: 10 },
        { kind: 'below-epoch', subject: 'hmi-1', epoch: 2 },
      ]),
    );
    expect(second.newlyRevoked).toEqual(['hmi-1']);
    expect(store.revocationListNumber).toBe(2);

    // The rotated key (epoch 2) is not revoked by "below epoch 2"; the store moves on.
    const hmi2 = await generateIdentity('hmi-1', { seed: seq(32, 13) });
    await store.addCertificate(certFor(hmi2, 12, 2).bytes, NOW);
    expect(store.get('hmi-1', NOW).keyEpoch).toBe(2);
  });

  it('refuses older or conflicting lists (ROLLBACK), forged ones (BAD_SIGNATURE), and ignores exact repeats', async () => {
    const storage = new MemoryStorage();
    const store = await TrustStore.open(fx.ca.trustAnchor, { storage });
    await store.addCertificate(certFor(fx.plc, 1, 1).bytes, NOW);
    const five = listOf(5, [{ kind: 'subject', subject: 'someone' }]);
    await store.applyRevocationList(five.bytes);
    const before = await snapshot(store, storage);
    const other = CertificateAuthority.generate('root-ca', { seed: seq(32, 78) });
    const cases: Array<[string, Uint8Array, string]> = [
      ['lower number', listOf(4).bytes, 'ROLLBACK'],
      ['same number, other content', listOf(5, [{ kind: 'subject', subject: 'plc-7' }]).bytes, 'ROLLBACK'],
      ['forged', flipBit(listOf(6, [{ kind: 'subject', subject: 'plc-7' }]).bytes, 25 * 8), 'BAD_SIGNATURE'],
      ['another CA', issueRevocationList(other, { number: 9, issuedAt: T0, entries: [{ kind: 'subject', subject: 'plc-7' }] }).bytes, 'BAD_SIGNATURE'],
      ['truncated', five.bytes.subarray(0, 40), 'MALFORMED'],
      ['a certificate', certFor(fx.plc, 1, 1).bytes, 'MALFORMED'],
    ];
    for (const [what, bytes, code] of cases) {
      expect(await asyncCodeOf(() => store.applyRevocationList(bytes)), what).toBe(code);
      expect(await snapshot(store, storage), what).toBe(before);
      expect(codeOf(() => store.get('plc-7', NOW)), what).toBe('none');
    }
    expect(await store.applyRevocationList(five.bytes)).toEqual({ number: 5, applied: false, newlyRevoked: [] });
  });

  it('takes the CA signing the same list or certificate again (another signature over the same bytes) as a repeat, not a ROLLBACK', async () => {
    const store = await TrustStore.open(fx.ca.trustAnchor);
    const cert = certFor(fx.plc, 1, 1);
    const again = certFor(fx.plc, 1, 1); // Falcon signing is randomised: same tbs, another signature
    expect(equalBytes(cert.tbs, again.tbs) && !equalBytes(cert.signature, again.signature)).toBe(true);
    await store.addCertificate(cert.bytes, NOW);
    expect(await asyncCodeOf(() => store.addCertificate(again.bytes, NOW))).toBe('none');
    const list = listOf(7, [{ kind: 'subject', subject: 'someone' }]);
    const listAgain = listOf(7, [{ kind: 'subject', subject: 'someone' }]);
    await store.applyRevocationList(list.bytes);
    expect(await store.applyRevocationList(listAgain.bytes)).toEqual({ number: 7, applied: false, newlyRevoked: [] });
  });
});

describe('persistence', () => {
  it('restores certificates, the list and the anti-rollback state after a restart', async () => {
    const storage = new MemoryStorage();
    const a = await TrustStore.open(fx.ca.trustAnchor, { storage });
    await a.addCertificate(certFor(plc2, 2, 2).bytes, NOW);
    await a.addCertificate(certFor(fx.hmi, 3, 1).bytes, NOW);
    await a.applyRevocationList(listOf(8, [{ kind: 'serial', subject: 'hmi-1', serial: 3 }]).bytes);

    const b = await TrustStore.open(fx.ca.trustAnchor, { storage });
    expect(b.subjects().sort()).toEqual(['hmi-1', 'plc-7']);
    expect(b.highestKeyEpoch('plc-7')).toBe(2);
    expect(b.revocationListNumber).toBe(8);
    expect(codeOf(() => b.get('hmi-1', NOW))).toBe('REVOKED');
    expect(await asyncCodeOf(() => b.addCertificate(certFor(fx.plc, 9, 1).bytes, NOW))).toBe('ROLLBACK');
    expect(await asyncCodeOf(() => b.applyRevocationList(listOf(7).bytes))).toBe('ROLLBACK');
    // Storage keys do not contain subject ids.
    expect((await storage.keys('trust/')).every((k) => !k.includes('plc-7'))).toBe(true);
    // A second store under another prefix is independent.
    const c = await TrustStore.open(fx.ca.trustAnchor, { storage, prefix: 'other/' });
    expect(c.subjects()).toEqual([]);
  });

  it('refuses storage written for another anchor, and tampered state', async () => {
    const storage = new MemoryStorage();
    const a = await TrustStore.open(fx.ca.trustAnchor, { storage });
    await a.addCertificate(certFor(fx.plc, 1, 1).bytes, NOW);
    await a.applyRevocationList(listOf(1).bytes);
    const other = CertificateAuthority.generate('root-ca', { seed: seq(32, 79) });
    await expect(TrustStore.open(other.trustAnchor, { storage })).rejects.toThrow(ConfigError);

    const certKey = (await storage.keys('trust/cert/'))[0]!;
    const original = (await storage.get(certKey))!;
    await storage.set(certKey, flipBit(original, 200 * 8));
    await expect(TrustStore.open(fx.ca.trustAnchor, { storage })).rejects.toThrow(StorageError);
    // A valid certificate of another subject under this key is also refused.
    await storage.set(certKey, certFor(fx.hmi, 1, 1).bytes);
    await expect(TrustStore.open(fx.ca.trustAnchor, { storage })).rejects.toThrow(/invalid/);
    await storage.set(certKey, original);
    await storage.set('trust/revocation-list', flipBit((await storage.get('trust/revocation-list'))!, 12 * 8));
    await expect(TrustStore.open(fx.ca.trustAnchor, { storage })).rejects.toThrow(StorageError);
    await storage.set('trust/revocation-list', listOf(1).bytes);
    await storage.set('trust/anchor', new Uint8Array([1, 2, 3]));
    await expect(TrustStore.open(fx.ca.trustAnchor, { storage })).rejects.toThrow(StorageError);
  });

  it('checks the anchor it is opened with', async () => {
    await expect(TrustStore.open({ ...fx.ca.trustAnchor, publicKey: new Uint8Array(3) })).rejects.toThrow(RangeError);
  });
});

describe('rights through the store', () => {
  it('mayPublish and maySubscribe use the certificate filters', async () => {
    const store = await TrustStore.open(fx.ca.trustAnchor);
    const cert = await store.addCertificate(certFor(fx.plc, 1, 1).bytes, NOW);
    expect(store.mayPublish(cert, 'plant/line1/plc-7/temp')).toBe(true);
    expect(store.mayPublish(cert, 'plant/line1/hmi-1/temp')).toBe(false);
    expect(store.maySubscribe(cert, 'plant/commands/plc-7')).toBe(true);
    expect(store.maySubscribe(cert, 'plant/commands/#')).toBe(false);
  });

  it('gives SecurityErrors that name the sender', async () => {
    const store = await TrustStore.open(fx.ca.trustAnchor);
    try {
      store.get('nobody', NOW);
      expect.fail('should throw');
    } catch (err) {
      expect(err).toBeInstanceOf(SecurityError);
      expect((err as SecurityError).sender).toBe('nobody');
    }
  });
});
