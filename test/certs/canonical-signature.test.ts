// Security review finding 8 (issue 19): a signed object has exactly one valid encoding. A copy of an authentic
// certificate, revocation list or announcement whose Falcon signature is zero-padded to the padded set's length
// (666 bytes for Falcon-512, 1,280 for Falcon-1024; the length prefix adjusted) is BAD_SIGNATURE, and it cannot make
// the CA's original look like a rollback.
import { beforeAll, describe, expect, it } from 'vitest';
import { falconPadded512, falconPadded1024 } from '../../bindings/index.js';
import { createAnnouncement, verifyAnnouncement } from '../../src/certs/announce.js';
import { CertificateAuthority, decodeCertificate, issueCertificate, verifyCertificate, type SignatureSuite } from '../../src/certs/certificate.js';
import { decodeRevocationList, issueRevocationList, verifyRevocationList } from '../../src/certs/revocation.js';
import { TrustStore } from '../../src/certs/trust-store.js';
import { ByteWriter } from '../../src/wire/codec.js';
import { seq } from '../support/helpers.js';
import { DAY, T0, asyncCodeOf, codeOf, fixture, type Fixture } from './fixtures.js';

const PADDED_LENGTH: Record<SignatureSuite, number> = { falcon512: falconPadded512.lengths.signature, falcon1024: falconPadded1024.lengths.signature };
const NOW = T0 + 10 * DAY;

/** `tbs || u16 length || signature`, the signature zero-padded to `length`: the layout every signed object shares. */
function withPaddedSignature(tbs: Uint8Array, signature: Uint8Array, length: number): Uint8Array {
  expect(signature.length).toBeLessThan(length);
  const padded = new Uint8Array(length);
  padded.set(signature);
  return new ByteWriter(tbs.length + 2 + length).fixed(tbs, tbs.length, 'tbs').bytes16(padded).finish();
}

let fx: Fixture;
beforeAll(async () => {
  fx = await fixture();
});

describe.each(['falcon512', 'falcon1024'] as const)('a %s CA’s objects with the signature zero-padded', (suite) => {
  let ca: CertificateAuthority;
  beforeAll(() => {
    ca = suite === 'falcon512' ? fx.ca : CertificateAuthority.generate('root-ca', { suite, seed: seq(32, 101) });
  });

  it('a certificate: BAD_SIGNATURE, the original still verifies', () => {
    const cert = issueCertificate(ca, fx.fields(fx.plc), { signingSeed: seq(88, 3) });
    const copy = withPaddedSignature(cert.tbs, cert.signature, PADDED_LENGTH[suite]);
    expect(decodeCertificate(copy).signature.length).toBe(PADDED_LENGTH[suite]); // it parses: only the signature check can refuse it
    expect(codeOf(() => verifyCertificate(copy, ca.trustAnchor, { now: NOW }))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => verifyCertificate(cert.bytes, ca.trustAnchor, { now: NOW }))).toBe('none');
  });

  it('a revocation list: BAD_SIGNATURE; applied first, it cannot make the original a ROLLBACK', async () => {
    const list = issueRevocationList(ca, { number: 4, issuedAt: T0, entries: [{ kind: 'subject', subject: 'lost-tablet' }] }, { signingSeed: seq(88, 4) });
    const copy = withPaddedSignature(list.tbs, list.signature, PADDED_LENGTH[suite]);
    expect(decodeRevocationList(copy).number).toBe(4);
    expect(codeOf(() => verifyRevocationList(copy, ca.trustAnchor))).toBe('BAD_SIGNATURE');
    const store = await TrustStore.open(ca.trustAnchor);
    expect(await asyncCodeOf(() => store.applyRevocationList(copy))).toBe('BAD_SIGNATURE');
    expect(store.revocationListNumber).toBeUndefined();
    const applied = await store.applyRevocationList(list.bytes);
    expect(applied).toMatchObject({ number: 4, applied: true });
    expect(await asyncCodeOf(() => store.applyRevocationList(copy))).toBe('BAD_SIGNATURE');
  });
});

describe('an announcement with its signature zero-padded', () => {
  it('is BAD_SIGNATURE; the original is accepted', async () => {
    const store = await TrustStore.open(fx.ca.trustAnchor);
    const cert = issueCertificate(fx.ca, fx.fields(fx.plc, { serial: 5 }));
    const announcement = createAnnouncement(fx.plc, cert, { timestamp: NOW - 1000, signingSeed: seq(88, 6) });
    const a = verifyAnnouncement(announcement, store, { now: NOW });
    const copy = withPaddedSignature(a.tbs, a.signature, PADDED_LENGTH.falcon512);
    expect(codeOf(() => verifyAnnouncement(copy, store, { now: NOW }))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => verifyAnnouncement(announcement, store, { now: NOW }))).toBe('none');
  });
});
