// Certificates and trust anchors: round trips, the documented layout, every
// corruption rejected with the right code, validity window, issuer checks,
// domain separation, rights.
import { beforeAll, describe, expect, it } from 'vitest';
import { falcon512, falcon1024, shake256 } from '../../bindings/index.js';
import { ConfigError, SecurityError } from '../../src/errors.js';
import { LABELS } from '../../src/wire/labels.js';
import {
  CERT_FIXED_BYTES,
  CERT_FLAGS,
  CertificateAuthority,
  MAX_CERTIFICATE_BYTES,
  MAX_RIGHTS,
  MAX_RIGHTS_BYTES,
  MAX_TRUST_ANCHOR_BYTES,
  decodeCertificate,
  decodeTrustAnchor,
  encodeCertificate,
  encodeTrustAnchor,
  hasFlag,
  issueCertificate,
  mayPublish,
  maySubscribe,
  sameTrustAnchor,
  trustAnchorFingerprint,
  verifyCertificate,
  type Certificate,
  type TrustAnchor,
} from '../../src/certs/certificate.js';
import { issueRevocationList } from '../../src/certs/revocation.js';
import { flipBit, hex, seq } from '../support/helpers.js';
import { DAY, T0, codeOf, everyBitFlip, fixture, stringRegions, type Fixture, type Region } from './fixtures.js';

let fx: Fixture;
let cert: Certificate;
let anchor: TrustAnchor;
const NOW = T0 + 10 * DAY;

beforeAll(async () => {
  fx = await fixture();
  cert = issueCertificate(fx.ca, fx.fields(fx.plc));
  anchor = fx.ca.trustAnchor;
});

/** The regions of a certificate, read from the documented layout (docs/PROTOCOL.md). */
function certificateRegions(bytes: Uint8Array): Region[] {
  const sig: Region['codes'] = ['BAD_SIGNATURE'];
  const sigOrMalformed: Region['codes'] = ['BAD_SIGNATURE', 'MALFORMED'];
  const regions: Region[] = [
    { name: 'type', start: 0, end: 1, codes: ['MALFORMED'] },
    { name: 'version', start: 1, end: 2, codes: ['UNSUPPORTED_VERSION'] },
    { name: 'key suite', start: 2, end: 3, codes: ['UNSUPPORTED_VERSION'] },
    { name: 'signature suite', start: 3, end: 4, codes: ['UNSUPPORTED_VERSION'] },
    { name: 'flags', start: 4, end: 5, codes: sigOrMalformed },
    { name: 'serial, notBefore, notAfter', start: 5, end: 29, codes: sigOrMalformed },
    { name: 'key epoch', start: 29, end: 33, codes: sig },
    { name: 'public keys', start: 33, end: 2146, codes: sig },
  ];
  let at = 2146;
  const push = (...rs: Region[]): void => {
    regions.push(...rs);
    at = rs[rs.length - 1]!.end;
  };
  push(...stringRegions('subject', bytes, at, ['BAD_SIGNATURE', 'MALFORMED']));
  push(...stringRegions('issuer', bytes, at, ['BAD_SIGNATURE', 'MALFORMED']));
  for (const list of ['publish', 'subscribe']) {
    const count = bytes[at]!;
    push({ name: `${list} count`, start: at, end: at + 1, codes: ['MALFORMED'] });
    for (let i = 0; i < count; i++) push(...stringRegions(`${list}[${i}]`, bytes, at, ['BAD_SIGNATURE', 'MALFORMED']));
  }
  push(...stringRegions('signature', bytes, at, ['BAD_SIGNATURE']));
  return regions;
}

describe('issueCertificate / decodeCertificate / encodeCertificate', () => {
  it('round-trips every field', () => {
    const f = fx.fields(fx.plc);
    expect(cert.subject).toBe('plc-7');
    expect(cert.issuer).toBe('root-ca');
    expect(cert.signatureSuite).toBe('falcon512');
    expect(cert.version).toBe(1);
    expect(cert.keySuite).toBe(1);
    expect(cert.serial).toBe(1);
    expect(cert.notBefore).toBe(f.notBefore);
    expect(cert.notAfter).toBe(f.notAfter);
    expect(cert.keyEpoch).toBe(1);
    expect(cert.flags).toBe(CERT_FLAGS.device);
    expect(cert.publish).toEqual(f.publish);
    expect(cert.subscribe).toEqual(f.subscribe);
    for (const k of ['falcon', 'mlKem', 'x25519'] as const) expect(hex(cert.publicKeys[k])).toBe(hex(fx.plc.publicKeys[k]));
    const again = decodeCertificate(cert.bytes);
    expect(hex(encodeCertificate(again))).toBe(hex(cert.bytes));
    expect(hex(again.tbs)).toBe(hex(cert.bytes.subarray(0, cert.tbs.length)));
    expect(Object.isFrozen(cert) && Object.isFrozen(cert.publish) && Object.isFrozen(cert.publicKeys)).toBe(true);
  });

  it('has the documented fixed layout', () => {
    const b = cert.bytes;
    expect(CERT_FIXED_BYTES).toBe(2146);
    expect([b[0], b[1], b[2], b[3], b[4]]).toEqual([0x43, 1, 1, 1, 0x04]);
    const view = new DataView(b.buffer, b.byteOffset);
    expect(view.getUint32(5) * 2 ** 32 + view.getUint32(9)).toBe(1);
    expect(view.getUint32(13) * 2 ** 32 + view.getUint32(17)).toBe(T0);
    expect(view.getUint32(21) * 2 ** 32 + view.getUint32(25)).toBe(T0 + 365 * DAY);
    expect(view.getUint32(29)).toBe(1);
    expect(hex(b.subarray(33, 930))).toBe(hex(fx.plc.publicKeys.falcon));
    expect(hex(b.subarray(930, 2114))).toBe(hex(fx.plc.publicKeys.mlKem));
    expect(hex(b.subarray(2114, 2146))).toBe(hex(fx.plc.publicKeys.x25519));
    expect(view.getUint16(2146)).toBe(5);
    expect(new TextDecoder().decode(b.subarray(2148, 2153))).toBe('plc-7');
    // The signature is over LABELS.certificate || tbs.
    const message = new Uint8Array([...LABELS.certificate, ...cert.tbs]);
    expect(falcon512.verify(cert.signature, message, anchor.publicKey)).toBe(true);
    expect(falcon512.verify(cert.signature, cert.tbs, anchor.publicKey)).toBe(false);
  });

  it('is deterministic with a signing seed (known answer)', () => {
    const a = issueCertificate(fx.ca, fx.fields(fx.plc), { signingSeed: seq(88) });
    const b = issueCertificate(fx.ca, fx.fields(fx.plc), { signingSeed: seq(88) });
    expect(hex(a.bytes)).toBe(hex(b.bytes));
    expect(hex(shake256(a.bytes, 16))).toBe(hex(shake256(b.bytes, 16)));
    expect(hex(shake256(a.bytes, 16))).toBe('581944228d284fb27d306d94e0552267');
  });

  it('signs with Falcon-1024 for a Falcon-1024 CA', () => {
    const big = CertificateAuthority.generate('root-1024', { suite: 'falcon1024', seed: seq(32, 5) });
    const c = issueCertificate(big, fx.fields(fx.hmi, { publish: [], subscribe: [] }));
    expect(c.signatureSuite).toBe('falcon1024');
    expect(c.bytes[3]).toBe(2);
    expect(verifyCertificate(c.bytes, big.trustAnchor, { now: NOW }).subject).toBe('hmi-1');
    expect(codeOf(() => verifyCertificate(c.bytes, anchor, { now: NOW }))).toBe('BAD_SIGNATURE');
    const message = new Uint8Array([...LABELS.certificate, ...c.tbs]);
    expect(falcon1024.verify(c.signature, message, big.publicKey)).toBe(true);
  });

  it('accepts the largest rights and stays within MAX_CERTIFICATE_BYTES', () => {
    const filter = (i: number): string => `${String(i).padStart(3, '0')}/${'x'.repeat(124)}`; // 128 bytes
    const publish = Array.from({ length: MAX_RIGHTS }, (_, i) => filter(i));
    const subscribe = Array.from({ length: MAX_RIGHTS }, (_, i) => filter(i + 100));
    expect((publish.join('') + subscribe.join('')).length).toBe(MAX_RIGHTS_BYTES);
    const big = CertificateAuthority.generate('c'.repeat(128), { suite: 'falcon1024', seed: seq(32, 6) });
    const c = issueCertificate(big, fx.fields(fx.plc, { subject: 's'.repeat(128), publish, subscribe }));
    expect(c.bytes.length).toBeLessThanOrEqual(MAX_CERTIFICATE_BYTES);
    expect(c.bytes.length).toBeGreaterThan(MAX_CERTIFICATE_BYTES - 1462);
    expect(decodeCertificate(c.bytes).publish).toEqual(publish);
    expect(() => issueCertificate(big, fx.fields(fx.plc, { publish: [...publish, 'a'] }))).toThrow(/publish must have at most 64 items/);
    expect(() => issueCertificate(big, fx.fields(fx.plc, { publish, subscribe: [...subscribe.slice(1), `${filter(1)}y`] }))).toThrow(
      /at most 16384 bytes of filters/,
    );
  });

  it('checks every field at issue time', () => {
    const bad: Array<[Partial<Parameters<Fixture['fields']>[1]>, RegExp | (new (...a: never[]) => Error)]> = [
      [{ subject: 'a/b' }, RangeError],
      [{ subject: '' }, RangeError],
      [{ serial: -1 }, RangeError],
      [{ serial: 2 ** 53 }, RangeError],
      [{ serial: 1.5 }, /serial must be an integer/], // a number, not an integer: a wrong value (RangeError)
      [{ serial: '1' as unknown as number }, TypeError],
      [{ notBefore: T0 + 1, notAfter: T0 }, /notBefore must not be after notAfter/],
      [{ keyEpoch: 2 ** 32 }, RangeError],
      [{ flags: 0x08 }, /unknown bits 0x8/],
      [{ flags: 256 }, RangeError],
      [{ publish: ['a/#/b'] }, /'#' must be the last level/],
      [{ subscribe: [''] }, /must not be empty/],
      [{ publish: ['x'.repeat(1025)] }, /at most 1024 bytes/],
      [{ publish: 'a' as unknown as string[] }, TypeError],
      [{ publicKeys: { ...fx.plc.publicKeys, falcon: new Uint8Array(896) } }, /publicKeys.falcon must be 897 bytes/],
      [{ publicKeys: { ...fx.plc.publicKeys, x25519: [] as unknown as Uint8Array } }, TypeError],
    ];
    for (const [override, expected] of bad) {
      expect(() => issueCertificate(fx.ca, fx.fields(fx.plc, override)), JSON.stringify(override)).toThrow(expected);
    }
    expect(() => issueCertificate(fx.ca, fx.fields(fx.plc, { notBefore: T0, notAfter: T0, flags: 7 }))).not.toThrow();
  });

  it('cannot be issued by a destroyed CA', () => {
    const temp = CertificateAuthority.generate('temp-ca', { seed: seq(32, 7) });
    temp.destroy();
    expect(temp.destroyed).toBe(true);
    expect(() => issueCertificate(temp, fx.fields(fx.plc))).toThrow(ConfigError);
  });
});

describe('verifyCertificate', () => {
  it('accepts a valid certificate, from bytes or object', () => {
    expect(verifyCertificate(cert.bytes, anchor, { now: NOW }).subject).toBe('plc-7');
    expect(verifyCertificate(cert, anchor, { now: NOW }).serial).toBe(1);
  });

  it('enforces the validity window, bounds inclusive (EXPIRED)', () => {
    expect(codeOf(() => verifyCertificate(cert, anchor, { now: T0 }))).toBe('none');
    expect(codeOf(() => verifyCertificate(cert, anchor, { now: T0 + 365 * DAY }))).toBe('none');
    expect(codeOf(() => verifyCertificate(cert, anchor, { now: T0 - 1 }))).toBe('EXPIRED');
    expect(codeOf(() => verifyCertificate(cert, anchor, { now: T0 + 365 * DAY + 1 }))).toBe('EXPIRED');
    expect(() => verifyCertificate(cert, anchor, { now: T0 - 1 })).toThrow(/not valid before/);
    // A clock reading that is not a number cannot slip through the window checks.
    for (const now of [Number.NaN, Infinity]) expect(() => verifyCertificate(cert, anchor, { now })).toThrow(RangeError);
    expect(() => verifyCertificate(cert, anchor, { now: '2025' as unknown as number })).toThrow(TypeError);
    // Without `now`, the clock decides.
    const current = issueCertificate(fx.ca, fx.fields(fx.plc, { notBefore: Date.now() - DAY, notAfter: Date.now() + DAY }));
    expect(codeOf(() => verifyCertificate(current, anchor))).toBe('none');
    const past = issueCertificate(fx.ca, fx.fields(fx.plc, { notBefore: 0, notAfter: Date.now() - DAY }));
    expect(codeOf(() => verifyCertificate(past, anchor))).toBe('EXPIRED');
  });

  it('rejects another issuer or suite as BAD_SIGNATURE, even with a good signature', () => {
    const impostor = CertificateAuthority.generate('root-ca', { seed: seq(32, 101) });
    expect(codeOf(() => verifyCertificate(cert, impostor.trustAnchor, { now: NOW }))).toBe('BAD_SIGNATURE');
    const otherId = { ...anchor, id: 'other-ca' };
    expect(codeOf(() => verifyCertificate(cert, otherId, { now: NOW }))).toBe('BAD_SIGNATURE');
    const otherSuite: TrustAnchor = { ...anchor, suite: 'falcon1024', publicKey: new Uint8Array(1793) };
    expect(codeOf(() => verifyCertificate(cert, otherSuite, { now: NOW }))).toBe('BAD_SIGNATURE');
    const byImpostor = issueCertificate(impostor, fx.fields(fx.plc));
    expect(codeOf(() => verifyCertificate(byImpostor, anchor, { now: NOW }))).toBe('BAD_SIGNATURE');
  });

  it('is domain-separated: a CA signature over the same bytes under another label does not verify', () => {
    const keys = falcon512.keygen(seq(48, 3));
    const ca = CertificateAuthority.fromKeys('root-ca', 'falcon512', { publicKey: keys.publicKey, secretKey: keys.secretKey.slice() });
    const good = issueCertificate(ca, fx.fields(fx.plc));
    for (const label of [LABELS.revocationList, LABELS.announce, new Uint8Array(0)]) {
      const sig = falcon512.sign(new Uint8Array([...label, ...good.tbs]), keys.secretKey);
      const forged = new Uint8Array([...good.tbs, sig.length >> 8, sig.length & 0xff, ...sig]);
      expect(codeOf(() => decodeCertificate(forged))).toBe('none');
      expect(codeOf(() => verifyCertificate(forged, ca.trustAnchor, { now: NOW }))).toBe('BAD_SIGNATURE');
    }
    // A revocation list never parses as a certificate (type byte).
    const list = issueRevocationList(ca, { number: 1, issuedAt: T0, entries: [] });
    expect(codeOf(() => decodeCertificate(list.bytes))).toBe('MALFORMED');
  });

  it('rejects every single-bit flip with a code from the region’s set', () => {
    const seen = everyBitFlip(cert.bytes, certificateRegions(cert.bytes), (b) => verifyCertificate(b, anchor, { now: NOW }));
    // Every region of content that parses is protected by the signature.
    for (const name of ['key epoch', 'public keys', 'signature', 'subject', 'publish[0]']) {
      expect(seen.get(name)?.has('BAD_SIGNATURE'), name).toBe(true);
    }
  });

  it('rejects every truncation (MALFORMED) and any extension (MALFORMED, TOO_LARGE)', () => {
    for (let n = 0; n < cert.bytes.length; n++) {
      const code = codeOf(() => decodeCertificate(cert.bytes.subarray(0, n)));
      if (code !== 'MALFORMED') expect.fail(`truncation to ${n} bytes gave ${code}`);
    }
    for (const extra of [0, 1, 0xff]) {
      expect(codeOf(() => verifyCertificate(new Uint8Array([...cert.bytes, extra]), anchor, { now: NOW }))).toBe('MALFORMED');
    }
    const huge = new Uint8Array(MAX_CERTIFICATE_BYTES + 1);
    huge.set(cert.bytes);
    expect(codeOf(() => decodeCertificate(huge))).toBe('TOO_LARGE');
    expect(codeOf(() => decodeCertificate('x' as unknown as Uint8Array))).toBe('MALFORMED');
  });

  it('rejects a BOM-prefixed subject that a lenient decoder would read as another name', () => {
    // Build "\ufeffplc-7" by hand: the issuer refuses to sign it, the decoder keeps it as is and refuses it.
    const b = cert.bytes;
    const forged = new Uint8Array([...b.subarray(0, 2146), 0, 8, 0xef, 0xbb, 0xbf, ...b.subarray(2148)]);
    expect(codeOf(() => decodeCertificate(forged))).toBe('MALFORMED');
    expect(() => decodeCertificate(forged)).toThrow(/U\+FEFF/);
  });

  it('does not modify its input', () => {
    const copy = cert.bytes.slice();
    verifyCertificate(copy, anchor, { now: NOW });
    decodeCertificate(copy);
    expect(copy).toEqual(cert.bytes);
  });
});

describe('trust anchors and CAs', () => {
  it('round-trips and has the documented layout', () => {
    const bytes = encodeTrustAnchor(anchor);
    expect([bytes[0], bytes[1], bytes[2]]).toEqual([0x41, 1, 1]);
    expect(bytes.length).toBe(3 + 2 + 7 + 897);
    const back = decodeTrustAnchor(bytes);
    expect(sameTrustAnchor(back, anchor)).toBe(true);
    expect(back.id).toBe('root-ca');
    expect(trustAnchorFingerprint(back)).toEqual(trustAnchorFingerprint(anchor));
    expect(trustAnchorFingerprint(back).length).toBe(32);
    const big = CertificateAuthority.generate('root-1024', { suite: 'falcon1024', seed: seq(32, 5) });
    const bigBytes = encodeTrustAnchor(big.trustAnchor);
    expect(bigBytes.length).toBe(3 + 2 + 9 + 1793);
    expect(sameTrustAnchor(decodeTrustAnchor(bigBytes), big.trustAnchor)).toBe(true);
    expect(sameTrustAnchor(big.trustAnchor, anchor)).toBe(false);
    expect(hex(trustAnchorFingerprint(big.trustAnchor))).not.toBe(hex(trustAnchorFingerprint(anchor)));
  });

  it('rejects corruption of a trust anchor', () => {
    const bytes = encodeTrustAnchor(anchor);
    expect(codeOf(() => decodeTrustAnchor(flipBit(bytes, 0)))).toBe('MALFORMED');
    expect(codeOf(() => decodeTrustAnchor(flipBit(bytes, 8)))).toBe('UNSUPPORTED_VERSION');
    expect(codeOf(() => decodeTrustAnchor(flipBit(bytes, 16)))).toBe('UNSUPPORTED_VERSION');
    expect(codeOf(() => decodeTrustAnchor(flipBit(bytes, 17)))).toBe('UNSUPPORTED_VERSION'); // suite 1 -> 3
    expect(codeOf(() => decodeTrustAnchor(flipBit(bytes, 3 * 8 + 6)))).toBe('MALFORMED'); // id length
    for (let n = 0; n < bytes.length; n++) expect(codeOf(() => decodeTrustAnchor(bytes.subarray(0, n)))).toBe('MALFORMED');
    expect(codeOf(() => decodeTrustAnchor(new Uint8Array([...bytes, 0])))).toBe('MALFORMED');
    expect(codeOf(() => decodeTrustAnchor(new Uint8Array(MAX_TRUST_ANCHOR_BYTES + 1)))).toBe('TOO_LARGE');
  });

  it('checks anchors and CA arguments', () => {
    expect(() => encodeTrustAnchor({ ...anchor, publicKey: new Uint8Array(10) })).toThrow(RangeError);
    expect(() => encodeTrustAnchor({ ...anchor, suite: 'rsa' as never })).toThrow(RangeError);
    expect(() => CertificateAuthority.generate('a/b')).toThrow(RangeError);
    expect(() => CertificateAuthority.generate('ca', { suite: 'x' as never })).toThrow(RangeError);
    expect(() => CertificateAuthority.generate('ca', { seed: seq(8) })).toThrow(RangeError);
    const keys = falcon512.keygen();
    const other = falcon512.keygen();
    expect(() => CertificateAuthority.fromKeys('ca', 'falcon512', { publicKey: other.publicKey, secretKey: keys.secretKey })).toThrow(
      ConfigError,
    );
    expect(() => CertificateAuthority.fromKeys('ca', 'falcon1024', keys)).toThrow(RangeError);
    expect(() => new CertificateAuthority(Symbol('no') as never, 'ca', 'falcon512', keys)).toThrow(TypeError);
  });

  it('is deterministic from a seed, separated by id and suite', () => {
    const a = CertificateAuthority.generate('root-ca', { seed: seq(32, 100) });
    expect(hex(a.publicKey)).toBe(hex(fx.ca.publicKey));
    expect(hex(CertificateAuthority.generate('root-cb', { seed: seq(32, 100) }).publicKey)).not.toBe(hex(a.publicKey));
  });
});

describe('rights and flags', () => {
  it('mayPublish matches topic names against publish filters', () => {
    expect(mayPublish(cert, 'plant/line1/plc-7/temp')).toBe(true);
    expect(mayPublish(cert, 'plant/line1/plc-7')).toBe(true);
    expect(mayPublish(cert, 'plant/alarms')).toBe(true);
    expect(mayPublish(cert, 'plant/line1/plc-8/temp')).toBe(false);
    expect(mayPublish(cert, 'plant/alarms/x')).toBe(false);
    expect(mayPublish(cert, 'plant/+/plc-7')).toBe(false); // not a topic name
    expect(mayPublish(cert, '')).toBe(false);
  });

  it('maySubscribe requires one granted filter to cover the requested one', () => {
    expect(maySubscribe(cert, 'plant/commands/plc-7')).toBe(true);
    expect(maySubscribe(cert, 'plant/line2/status')).toBe(true);
    expect(maySubscribe(cert, 'plant/+/status')).toBe(true);
    expect(maySubscribe(cert, 'plant/#')).toBe(false);
    expect(maySubscribe(cert, 'plant/commands/+')).toBe(false);
    expect(maySubscribe(cert, '#')).toBe(false);
    expect(maySubscribe(cert, 'a/#/b')).toBe(false); // invalid filter
  });

  it('hasFlag reads the role bits', () => {
    expect(hasFlag(cert, CERT_FLAGS.device)).toBe(true);
    expect(hasFlag(cert, CERT_FLAGS.ca)).toBe(false);
    expect(hasFlag(cert, 0)).toBe(false);
  });
});

describe('errors carry context', () => {
  it('names the sender in certificate failures', () => {
    try {
      verifyCertificate(cert, anchor, { now: T0 - 1 });
      expect.fail('should throw');
    } catch (err) {
      expect(err).toBeInstanceOf(SecurityError);
      expect((err as SecurityError).sender).toBe('plc-7');
    }
  });
});
