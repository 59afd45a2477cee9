// Revocation lists: round trips, layout, matching rules, every corruption
// rejected with the right code.
import { beforeAll, describe, expect, it } from 'vitest';
import { falcon512 } from '../../bindings/index.js';
import { LABELS } from '../../src/wire/labels.js';
import { CertificateAuthority, issueCertificate } from '../../src/certs/certificate.js';
import { signAsAuthority } from '../../src/certs/authority.js';
import { TrustStore } from '../../src/certs/trust-store.js';
import { ByteWriter } from '../../src/wire/codec.js';
import {
  DEFAULT_REVOCATION_LIST_VALIDITY_MS,
  MAX_REVOCATION_ENTRIES,
  MAX_REVOCATION_LIST_BYTES,
  reissueRevocationList,
  revocationListDue,
  decodeRevocationList,
  encodeRevocationList,
  isRevoked,
  issueRevocationList,
  revocationEntryFor,
  verifyRevocationList,
  type RevocationEntry,
  type RevocationList,
} from '../../src/certs/revocation.js';
import { hex, seq } from '../support/helpers.js';
import { T0, codeOf, everyBitFlip, fixture, stringRegions, type Fixture, type Region } from './fixtures.js';

let fx: Fixture;
let list: RevocationList;
const entries: RevocationEntry[] = [
  { kind: 'serial', subject: 'plc-7', serial: 41 },
  { kind: 'below-epoch', subject: 'hmi-1', epoch: 3 },
  { kind: 'subject', subject: 'lost-tablet' },
  { kind: 'serial', subject: 'ünï', serial: 2 ** 53 - 1 },
];

beforeAll(async () => {
  fx = await fixture();
  list = issueRevocationList(fx.ca, { number: 7, issuedAt: T0, entries });
});

/** Regions of a revocation list, read from the documented layout. */
function listRegions(bytes: Uint8Array): Region[] {
  const regions: Region[] = [
    { name: 'type', start: 0, end: 1, codes: ['MALFORMED'] },
    { name: 'version', start: 1, end: 2, codes: ['UNSUPPORTED_VERSION'] },
    { name: 'signature suite', start: 2, end: 3, codes: ['UNSUPPORTED_VERSION'] },
    { name: 'number, issuedAt, nextUpdate', start: 3, end: 27, codes: ['BAD_SIGNATURE', 'MALFORMED'] },
  ];
  let at = 27;
  const push = (...rs: Region[]): void => {
    regions.push(...rs);
    at = rs[rs.length - 1]!.end;
  };
  push(...stringRegions('issuer', bytes, at, ['BAD_SIGNATURE', 'MALFORMED']));
  const count = (bytes[at]! << 8) | bytes[at + 1]!;
  push({ name: 'entry count', start: at, end: at + 2, codes: ['MALFORMED'] });
  for (let i = 0; i < count; i++) {
    const kind = bytes[at]!;
    push({ name: `entries[${i}].kind`, start: at, end: at + 1, codes: ['MALFORMED', 'BAD_SIGNATURE'] });
    push(...stringRegions(`entries[${i}].subject`, bytes, at, ['BAD_SIGNATURE', 'MALFORMED']));
    const size = kind === 1 ? 8 : kind === 2 ? 4 : 0;
    if (size) push({ name: `entries[${i}].value`, start: at, end: at + size, codes: ['BAD_SIGNATURE', 'MALFORMED'] });
  }
  push(...stringRegions('signature', bytes, at, ['BAD_SIGNATURE']));
  return regions;
}

describe('revocation lists', () => {
  it('round-trip every field and have the documented layout', () => {
    expect(list.number).toBe(7);
    expect(list.issuedAt).toBe(T0);
    expect(list.issuer).toBe('root-ca');
    expect(list.signatureSuite).toBe('falcon512');
    expect(list.entries).toEqual(entries);
    expect(hex(encodeRevocationList(decodeRevocationList(list.bytes)))).toBe(hex(list.bytes));
    const b = list.bytes;
    expect([b[0], b[1], b[2]]).toEqual([0x52, 2, 1]);
    expect(b[10]).toBe(7); // number, u64 big-endian at 3
    expect(new DataView(b.buffer, b.byteOffset).getBigUint64(19)).toBe(BigInt(T0 + DEFAULT_REVOCATION_LIST_VALIDITY_MS)); // nextUpdate at 19
    expect(list.nextUpdate).toBe(T0 + DEFAULT_REVOCATION_LIST_VALIDITY_MS);
    expect((b[27]! << 8) | b[28]!).toBe(7); // issuer length
    expect((b[36]! << 8) | b[37]!).toBe(4); // entry count
    expect(b[38]).toBe(1); // first entry kind: serial
    const message = new Uint8Array([...LABELS.revocationList, ...list.tbs]);
    expect(falcon512.verify(list.signature, message, fx.ca.publicKey)).toBe(true);
    expect(verifyRevocationList(list.bytes, fx.ca.trustAnchor).number).toBe(7);
    expect(verifyRevocationList(list, fx.ca.trustAnchor).entries.length).toBe(4);
  });

  it('may be empty, and may be as large as the bound', () => {
    const empty = issueRevocationList(fx.ca, { number: 0, issuedAt: 0, entries: [] });
    expect(decodeRevocationList(empty.bytes).entries).toEqual([]);
    const many: RevocationEntry[] = Array.from({ length: MAX_REVOCATION_ENTRIES }, (_, i) => ({
      kind: 'serial',
      subject: `${String(i).padStart(4, '0')}${'d'.repeat(124)}`,
      serial: 2 ** 53 - 1 - i,
    }));
    const big = CertificateAuthority.generate('r'.repeat(128), { suite: 'falcon1024', seed: seq(32, 9) });
    const full = issueRevocationList(big, { number: 1, issuedAt: T0, entries: many });
    expect(full.bytes.length).toBeLessThanOrEqual(MAX_REVOCATION_LIST_BYTES);
    expect(full.bytes.length).toBeGreaterThan(MAX_REVOCATION_LIST_BYTES - 1462);
    expect(verifyRevocationList(full.bytes, big.trustAnchor).entries.length).toBe(MAX_REVOCATION_ENTRIES);
    expect(() => issueRevocationList(big, { number: 1, issuedAt: T0, entries: [...many, many[0]!] })).toThrow(/at most 4096/);
  });

  it('check their fields at issue time', () => {
    const bad: Array<[unknown, new (...a: never[]) => Error]> = [
      [{ number: -1, issuedAt: 0, entries: [] }, RangeError],
      [{ number: 1.5, issuedAt: 0, entries: [] }, RangeError],
      [{ number: '1', issuedAt: 0, entries: [] }, TypeError],
      [{ number: 1, issuedAt: 2 ** 53, entries: [] }, RangeError],
      [{ number: 1, issuedAt: 0, entries: {} }, TypeError],
      [{ number: 1, issuedAt: 0, entries: [{ kind: 'serial', subject: 'a/b', serial: 1 }] }, RangeError],
      [{ number: 1, issuedAt: 0, entries: [{ kind: 'serial', subject: 'a', serial: -1 }] }, RangeError],
      [{ number: 1, issuedAt: 0, entries: [{ kind: 'below-epoch', subject: 'a', epoch: 2 ** 32 }] }, RangeError],
      [{ number: 1, issuedAt: 0, entries: [{ kind: 'all', subject: 'a' }] }, RangeError],
    ];
    for (const [fields, type] of bad) {
      expect(() => issueRevocationList(fx.ca, fields as never), JSON.stringify(fields)).toThrow(type);
    }
  });

  it('match certificates by serial, by epoch below a bound, or by subject', () => {
    const c = (subject: string, serial: number, keyEpoch: number) => ({ subject, serial, keyEpoch });
    expect(isRevoked(list, c('plc-7', 41, 1))).toBe(true);
    expect(isRevoked(list, c('plc-7', 42, 1))).toBe(false);
    expect(isRevoked(list, c('plc-8', 41, 1))).toBe(false); // the serial entry names its subject
    expect(isRevoked(list, c('hmi-1', 1, 2))).toBe(true);
    expect(isRevoked(list, c('hmi-1', 1, 3))).toBe(false); // epoch 3 is the first not revoked
    expect(isRevoked(list, c('lost-tablet', 99, 2 ** 32 - 1))).toBe(true);
    expect(isRevoked(undefined, c('plc-7', 41, 1))).toBe(false);
    expect(revocationEntryFor(list, c('hmi-1', 5, 0))?.kind).toBe('below-epoch');
  });

  it('reject another issuer, suite or label (BAD_SIGNATURE)', () => {
    const impostor = CertificateAuthority.generate('root-ca', { seed: seq(32, 55) });
    expect(codeOf(() => verifyRevocationList(list, impostor.trustAnchor))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => verifyRevocationList(list, { ...fx.ca.trustAnchor, id: 'x' }))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => verifyRevocationList(list, { ...fx.ca.trustAnchor, suite: 'falcon1024', publicKey: new Uint8Array(1793) }))).toBe(
      'BAD_SIGNATURE',
    );
    const keys = falcon512.keygen(seq(48, 4));
    const ca = CertificateAuthority.fromKeys('root-ca', 'falcon512', { publicKey: keys.publicKey, secretKey: keys.secretKey.slice() });
    const good = issueRevocationList(ca, { number: 1, issuedAt: T0, entries });
    for (const label of [LABELS.certificate, LABELS.announce, new Uint8Array(0)]) {
      const sig = falcon512.sign(new Uint8Array([...label, ...good.tbs]), keys.secretKey);
      const forged = new Uint8Array([...good.tbs, sig.length >> 8, sig.length & 0xff, ...sig]);
      expect(codeOf(() => verifyRevocationList(forged, ca.trustAnchor))).toBe('BAD_SIGNATURE');
    }
    const cert = issueCertificate(ca, fx.fields(fx.plc));
    expect(codeOf(() => decodeRevocationList(cert.bytes))).toBe('MALFORMED');
  });

  it('reject every single-bit flip with a code from the region’s set', () => {
    const seen = everyBitFlip(list.bytes, listRegions(list.bytes), (b) => verifyRevocationList(b, fx.ca.trustAnchor));
    for (const name of ['number, issuedAt, nextUpdate', 'entries[0].value', 'entries[1].subject', 'signature']) {
      expect(seen.get(name)?.has('BAD_SIGNATURE'), name).toBe(true);
    }
  });

  it('reject every truncation (MALFORMED) and any extension (MALFORMED, TOO_LARGE)', () => {
    for (let n = 0; n < list.bytes.length; n++) {
      const code = codeOf(() => decodeRevocationList(list.bytes.subarray(0, n)));
      if (code !== 'MALFORMED') expect.fail(`truncation to ${n} bytes gave ${code}`);
    }
    expect(codeOf(() => verifyRevocationList(new Uint8Array([...list.bytes, 0]), fx.ca.trustAnchor))).toBe('MALFORMED');
    expect(codeOf(() => decodeRevocationList(new Uint8Array(MAX_REVOCATION_LIST_BYTES + 1)))).toBe('TOO_LARGE');
  });

  it('refuse an entry count the input cannot hold before reading entries', () => {
    const b = list.bytes.slice();
    b[36] = 0x0f; // 0x0f04 entries
    expect(() => decodeRevocationList(b)).toThrow(/cannot fit/);
    b[36] = 0x10;
    b[37] = 0x01; // 4097 entries
    expect(() => decodeRevocationList(b)).toThrow(/at most 4096/);
  });

  it('carry the CA\'s next-update time (version 2), signed; nextUpdate must follow issuedAt', () => {
    const l = issueRevocationList(fx.ca, { number: 8, issuedAt: T0, nextUpdate: T0 + 3_600_000, entries });
    expect(l.nextUpdate).toBe(T0 + 3_600_000);
    expect(verifyRevocationList(l.bytes, fx.ca.trustAnchor).nextUpdate).toBe(T0 + 3_600_000);
    const later = l.bytes.slice();
    later[26]! ^= 0x01; // the last byte of nextUpdate: a broker extending a list's life
    expect(codeOf(() => verifyRevocationList(later, fx.ca.trustAnchor))).toBe('BAD_SIGNATURE');
    expect(() => issueRevocationList(fx.ca, { number: 8, issuedAt: T0, nextUpdate: T0, entries })).toThrow(RangeError);
  });

  it('still read version 1 lists (no next update), which a trust store calls stale at once', async () => {
    const w = new ByteWriter(256).u8(0x52).u8(1).u8(1).u64(9).u64(T0).string16('root-ca').u16(1).u8(3).string16('lost-tablet');
    const tbs = w.finish();
    const v1 = new ByteWriter(tbs.length + 2 + 752).fixed(tbs, tbs.length, 'tbs').bytes16(signAsAuthority(fx.ca, LABELS.revocationList, tbs)).finish();
    const l = verifyRevocationList(v1, fx.ca.trustAnchor);
    expect([l.version, l.nextUpdate, l.entries.length]).toEqual([1, undefined, 1]);
    expect(hex(encodeRevocationList(l))).toBe(hex(v1));
    expect(revocationListDue(l, T0)).toBe(true);
    const store = await TrustStore.open(fx.ca.trustAnchor);
    expect(store.revocationStatus(T0, 60_000)).toBe('none');
    await store.applyRevocationList(v1);
    expect(store.revocationStatus(T0, 60_000)).toBe('stale');
  });

  it('are re-issued before they expire: reissueRevocationList and revocationListDue give the cadence; the trust store tells fresh from stale', async () => {
    const first = issueRevocationList(fx.ca, { number: 20, issuedAt: T0, nextUpdate: T0 + 1_000_000, entries });
    expect(revocationListDue(first, T0 + 499_999)).toBe(false);
    expect(revocationListDue(first, T0 + 500_000)).toBe(true); // half the validity by default
    expect(revocationListDue(first, T0 + 100_000, 950_000)).toBe(true);
    const next = reissueRevocationList(fx.ca, first, { now: T0 + 500_000, validityMs: 1_000_000 });
    expect([next.number, next.issuedAt, next.nextUpdate]).toEqual([21, T0 + 500_000, T0 + 1_500_000]);
    expect(next.entries).toEqual(entries);
    const store = await TrustStore.open(fx.ca.trustAnchor);
    await store.applyRevocationList(first.bytes);
    expect(store.revocationStatus(T0 + 1_000_000, 0)).toBe('fresh');
    expect(store.revocationStatus(T0 + 1_000_001, 0)).toBe('stale');
    expect(store.revocationStatus(T0 + 1_060_000, 60_000)).toBe('fresh'); // within the grace
    await store.applyRevocationList(next.bytes);
    expect(store.revocationStatus(T0 + 1_060_001, 0)).toBe('fresh');
  });
});
