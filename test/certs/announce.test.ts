// Certificate announcements: proof of possession, layout, every corruption
// rejected, time checks, and accepting into a store.
import { beforeAll, describe, expect, it } from 'vitest';
import { falcon512 } from '../../bindings/index.js';
import { ConfigError } from '../../src/errors.js';
import { LABELS } from '../../src/wire/labels.js';
import {
  MAX_ANNOUNCEMENT_BYTES,
  acceptAnnouncement,
  createAnnouncement,
  decodeAnnouncement,
  verifyAnnouncement,
} from '../../src/certs/announce.js';
import { issueCertificate, type Certificate } from '../../src/certs/certificate.js';
import { issueRevocationList } from '../../src/certs/revocation.js';
import { TrustStore } from '../../src/certs/trust-store.js';
import { destroyIdentity, generateIdentity } from '../../src/identity/index.js';
import { flipBit, hex, seq } from '../support/helpers.js';
import { DAY, T0, asyncCodeOf, codeOf, everyBitFlip, fixture, type Fixture, type Region } from './fixtures.js';

let fx: Fixture;
let cert: Certificate;
let store: TrustStore;
let announcement: Uint8Array;
const NOW = T0 + 10 * DAY;

beforeAll(async () => {
  fx = await fixture();
  cert = issueCertificate(fx.ca, fx.fields(fx.plc, { serial: 3, keyEpoch: 2 }));
  store = await TrustStore.open(fx.ca.trustAnchor);
  announcement = createAnnouncement(fx.plc, cert, { timestamp: NOW - 1000 });
});

describe('announcements', () => {
  it('round-trip and have the documented layout', () => {
    const a = verifyAnnouncement(announcement, store, { now: NOW });
    expect(a.timestamp).toBe(NOW - 1000);
    expect(a.certificate.subject).toBe('plc-7');
    expect(hex(a.certificate.bytes)).toBe(hex(cert.bytes));
    const b = announcement;
    expect([b[0], b[1]]).toEqual([0x4e, 1]);
    const view = new DataView(b.buffer, b.byteOffset);
    expect(view.getUint32(2) * 2 ** 32 + view.getUint32(6)).toBe(NOW - 1000);
    expect(view.getUint16(10)).toBe(cert.bytes.length);
    expect(hex(b.subarray(12, 12 + cert.bytes.length))).toBe(hex(cert.bytes));
    expect(hex(a.tbs)).toBe(hex(b.subarray(0, 12 + cert.bytes.length)));
    const message = new Uint8Array([...LABELS.announce, ...a.tbs]);
    expect(falcon512.verify(a.signature, message, fx.plc.publicKeys.falcon)).toBe(true);
    expect(decodeAnnouncement(b).bytes).toEqual(b);
    expect(createAnnouncement(fx.plc, cert.bytes, { timestamp: 5, signingSeed: seq(88) })).toEqual(
      createAnnouncement(fx.plc, cert, { timestamp: 5, signingSeed: seq(88) }),
    );
  });

  it('can only be made by the certificate’s subject', async () => {
    expect(() => createAnnouncement(fx.hmi, cert)).toThrow(ConfigError);
    const impostor = await generateIdentity('plc-7', { seed: seq(32, 40) }); // same id, other key
    expect(() => createAnnouncement(impostor, cert)).toThrow(/does not belong/);
    const gone = await generateIdentity('plc-7', { seed: seq(32, 1) });
    destroyIdentity(gone);
    expect(() => createAnnouncement(gone, cert)).toThrow(ConfigError);
  });

  it('reject a signature by anyone but the certificate key (BAD_SIGNATURE)', async () => {
    // Another key signs the same tbs, and the right key signs under another label.
    const a = decodeAnnouncement(announcement);
    const other = await generateIdentity('hmi-1', { seed: seq(32, 2) });
    const sigs = [
      falcon512.sign(new Uint8Array([...LABELS.announce, ...a.tbs]), other.falcon.secretKey),
      falcon512.sign(new Uint8Array([...LABELS.certificate, ...a.tbs]), fx.plc.falcon.secretKey),
      falcon512.sign(a.tbs, fx.plc.falcon.secretKey),
    ];
    for (const sig of sigs) {
      const forged = new Uint8Array([...a.tbs, sig.length >> 8, sig.length & 0xff, ...sig]);
      expect(codeOf(() => verifyAnnouncement(forged, store, { now: NOW }))).toBe('BAD_SIGNATURE');
    }
  });

  it('carry the trust store’s verdict on the certificate', async () => {
    expect(codeOf(() => verifyAnnouncement(announcement, store, { now: T0 - 1 }))).toBe('EXPIRED');
    const strict = await TrustStore.open(fx.ca.trustAnchor);
    await strict.applyRevocationList(issueRevocationList(fx.ca, { number: 1, issuedAt: T0, entries: [{ kind: 'subject', subject: 'plc-7' }] }));
    expect(codeOf(() => verifyAnnouncement(announcement, strict, { now: NOW }))).toBe('REVOKED');
    const newer = await TrustStore.open(fx.ca.trustAnchor);
    await newer.addCertificate(issueCertificate(fx.ca, fx.fields(fx.plc, { serial: 4, keyEpoch: 3 })), NOW);
    expect(codeOf(() => verifyAnnouncement(announcement, newer, { now: NOW }))).toBe('ROLLBACK');
  });

  it('check the timestamp (FROM_FUTURE, TOO_OLD)', () => {
    const future = createAnnouncement(fx.plc, cert, { timestamp: NOW + 5 * 60_000 + 1 });
    expect(codeOf(() => verifyAnnouncement(future, store, { now: NOW }))).toBe('FROM_FUTURE');
    expect(codeOf(() => verifyAnnouncement(future, store, { now: NOW, maxSkewMs: 10 * 60_000 }))).toBe('none');
    expect(codeOf(() => verifyAnnouncement(announcement, store, { now: NOW, maxAgeMs: 999 }))).toBe('TOO_OLD');
    expect(codeOf(() => verifyAnnouncement(announcement, store, { now: NOW, maxAgeMs: 1000 }))).toBe('none');
    expect(() => verifyAnnouncement(announcement, store, { now: Number.NaN })).toThrow(RangeError);
    expect(() => verifyAnnouncement(announcement, store, { now: NOW, maxSkewMs: Number.NaN })).toThrow(RangeError);
    expect(() => verifyAnnouncement(announcement, store, { now: NOW, maxAgeMs: Number.NaN })).toThrow(RangeError);
    expect(() => createAnnouncement(fx.plc, cert, { timestamp: -1 })).toThrow(RangeError);
  });

  it('are accepted into the store only when everything verifies', async () => {
    const s = await TrustStore.open(fx.ca.trustAnchor);
    expect(await asyncCodeOf(() => acceptAnnouncement(flipBit(announcement, (announcement.length - 5) * 8), s, { now: NOW }))).toBe(
      'BAD_SIGNATURE',
    );
    expect(s.subjects()).toEqual([]);
    const accepted = await acceptAnnouncement(announcement, s, { now: NOW });
    expect(accepted.serial).toBe(3);
    expect(s.get('plc-7', NOW).keyEpoch).toBe(2);
  });

  it('reject every single-bit flip with a code from the region’s set', () => {
    const certEnd = 12 + cert.bytes.length;
    const regions: Region[] = [
      { name: 'type', start: 0, end: 1, codes: ['MALFORMED'] },
      { name: 'version', start: 1, end: 2, codes: ['UNSUPPORTED_VERSION'] },
      { name: 'timestamp', start: 2, end: 10, codes: ['BAD_SIGNATURE', 'MALFORMED'] },
      { name: 'certificate length', start: 10, end: 12, codes: ['MALFORMED'] },
      // Inside the certificate: its own codes (see certificate.test.ts for the per-field map).
      { name: 'certificate', start: 12, end: certEnd, codes: ['BAD_SIGNATURE', 'MALFORMED', 'UNSUPPORTED_VERSION'] },
      { name: 'signature length', start: certEnd, end: certEnd + 2, codes: ['MALFORMED'] },
      { name: 'signature', start: certEnd + 2, end: announcement.length, codes: ['BAD_SIGNATURE'] },
    ];
    const seen = everyBitFlip(announcement, regions, (b) => verifyAnnouncement(b, store, { now: NOW }));
    expect(seen.get('timestamp')?.has('BAD_SIGNATURE')).toBe(true);
    expect(seen.get('certificate')?.has('BAD_SIGNATURE')).toBe(true);
  });

  it('reject every truncation (MALFORMED) and any extension (MALFORMED, TOO_LARGE)', () => {
    for (let n = 0; n < announcement.length; n++) {
      const code = codeOf(() => decodeAnnouncement(announcement.subarray(0, n)));
      if (code !== 'MALFORMED') expect.fail(`truncation to ${n} bytes gave ${code}`);
    }
    expect(codeOf(() => verifyAnnouncement(new Uint8Array([...announcement, 0]), store, { now: NOW }))).toBe('MALFORMED');
    expect(codeOf(() => decodeAnnouncement(new Uint8Array(MAX_ANNOUNCEMENT_BYTES + 1)))).toBe('TOO_LARGE');
  });
});
