// Certificates: a CA's signature binding a subject id to its three public keys,
// a validity window, a key epoch and its MQTT rights. One canonical, bounded
// encoding (docs/PROTOCOL.md, "Certificate layout"); the CA signs
// LABELS.certificate || tbs, where tbs is every byte before the signature.

import { aarray, abytes, afinite, aint, aobject } from '../../bindings/assert-sdk.js';
import { falcon512, mlKem768 } from '../../bindings/index.js';
import { SecurityError } from '../errors.js';
import type { PublicKeys } from '../identity/identity.js';
import { topicMatches, filterCovers, validateTopicFilter, isValidTopicName, isValidTopicFilter } from '../topic/grammar.js';
import { ByteReader, ByteWriter, boundInput } from '../wire/codec.js';
import { FORMAT_VERSION, TYPE } from '../wire/encoding-ids.js';
import { MAX_FILTER_BYTES, encodeUtf8, malformed, readFilter, readSubject, unsupported } from '../wire/fields.js';
import { LABELS } from '../wire/labels.js';
import { MAX_SUBJECT_BYTES, validateSubjectId } from '../wire/subject-id.js';
import { signAsAuthority, verifyByAnchor, type CertificateAuthority, type TrustAnchor } from './authority.js';
import { KEY_SUITE_ID, SIGNATURE_SUITES, signatureSuiteFromId, type SignatureSuite } from './suites.js';

export {
  CertificateAuthority,
  decodeTrustAnchor,
  encodeTrustAnchor,
  sameTrustAnchor,
  trustAnchorFingerprint,
  MAX_TRUST_ANCHOR_BYTES,
  type CertificateAuthorityOptions,
  type TrustAnchor,
} from './authority.js';
export type { SignatureSuite } from './suites.js';

/** Role bits of the flags byte; the other bits must be zero. Informational: rights are the filters. */
export const CERT_FLAGS = Object.freeze({ ca: 0x01, operator: 0x02, device: 0x04 });
const KNOWN_FLAGS = CERT_FLAGS.ca | CERT_FLAGS.operator | CERT_FLAGS.device;

/** At most this many filters in each of `publish` and `subscribe`. */
export const MAX_RIGHTS = 64;
/** At most this many UTF-8 bytes in all filters of a certificate together. */
export const MAX_RIGHTS_BYTES = 16_384;

const KEY_LENGTHS = Object.freeze({ falcon: falcon512.lengths.publicKey, mlKem: mlKem768.lengths.publicKey, x25519: 32 });

/** Offset of the subject id: everything before it has a fixed size. */
export const CERT_FIXED_BYTES = 5 + 3 * 8 + 4 + KEY_LENGTHS.falcon + KEY_LENGTHS.mlKem + KEY_LENGTHS.x25519;

/** The largest certificate encoding, in bytes. */
export const MAX_CERTIFICATE_BYTES =
  CERT_FIXED_BYTES +
  2 * (2 + MAX_SUBJECT_BYTES) + // subject, issuer
  2 + // the two counts
  2 * MAX_RIGHTS * 2 + // filter length prefixes
  MAX_RIGHTS_BYTES +
  2 +
  SIGNATURE_SUITES.falcon1024.signer.lengths.signature;

/** What the CA decides: everything signed except the issuer and suite, which are the CA's own. */
export interface CertificateFields {
  readonly subject: string;
  /** Unique per CA and increasing for each new certificate of a subject (see the trust store's anti-rollback). */
  readonly serial: number;
  /** Milliseconds since the epoch, inclusive. */
  readonly notBefore: number;
  /** Milliseconds since the epoch, inclusive. */
  readonly notAfter: number;
  /** Increases each time the subject's keys change (u32). */
  readonly keyEpoch: number;
  readonly publicKeys: PublicKeys;
  /** Topic filters the subject may publish to. */
  readonly publish: readonly string[];
  /** Topic filters the subject may subscribe to (a subscription must be covered by one of them). */
  readonly subscribe: readonly string[];
  /** CERT_FLAGS bits; default 0. */
  readonly flags?: number;
}

/** A decoded certificate. Decoding alone proves nothing: see verifyCertificate and TrustStore. */
export interface Certificate extends CertificateFields {
  readonly version: number;
  readonly keySuite: number;
  readonly flags: number;
  readonly issuer: string;
  readonly signatureSuite: SignatureSuite;
  readonly signature: Uint8Array;
  /** The signed bytes (without the label). */
  readonly tbs: Uint8Array;
  /** The whole encoding. */
  readonly bytes: Uint8Array;
}

function checkRights(list: unknown, what: string): string[] {
  return aarray(list, MAX_RIGHTS, what).map((filter, i) => {
    validateTopicFilter(filter as string);
    const bytes = encodeUtf8(filter as string).length;
    if (bytes > MAX_FILTER_BYTES) throw new RangeError(`${what}[${i}]: at most ${MAX_FILTER_BYTES} bytes, got ${bytes}`);
    return filter as string;
  });
}

function rightsBytes(filters: readonly string[]): number {
  return filters.reduce((sum, f) => sum + encodeUtf8(f).length, 0);
}

/** Checks fields a CA is about to sign (TypeError/RangeError naming the field). */
function checkFields(fields: CertificateFields): void {
  validateSubjectId(fields.subject);
  aint(fields.serial, 0, Number.MAX_SAFE_INTEGER, 'serial');
  aint(fields.notBefore, 0, Number.MAX_SAFE_INTEGER, 'notBefore');
  aint(fields.notAfter, 0, Number.MAX_SAFE_INTEGER, 'notAfter');
  if (fields.notBefore > fields.notAfter) throw new RangeError('notBefore must not be after notAfter');
  aint(fields.keyEpoch, 0, 0xffffffff, 'keyEpoch');
  const flags = aint(fields.flags ?? 0, 0, 0xff, 'flags');
  if ((flags & ~KNOWN_FLAGS) !== 0) throw new RangeError(`flags: unknown bits 0x${(flags & ~KNOWN_FLAGS).toString(16)}`);
  aobject(fields.publicKeys, 'publicKeys');
  abytes(fields.publicKeys.falcon, KEY_LENGTHS.falcon, 'publicKeys.falcon');
  abytes(fields.publicKeys.mlKem, KEY_LENGTHS.mlKem, 'publicKeys.mlKem');
  abytes(fields.publicKeys.x25519, KEY_LENGTHS.x25519, 'publicKeys.x25519');
  const all = [...checkRights(fields.publish, 'publish'), ...checkRights(fields.subscribe, 'subscribe')];
  const total = rightsBytes(all);
  if (total > MAX_RIGHTS_BYTES) throw new RangeError(`rights: at most ${MAX_RIGHTS_BYTES} bytes of filters, got ${total}`);
}

function writeTbs(w: ByteWriter, f: CertificateFields, issuer: string, suite: SignatureSuite): ByteWriter {
  w.u8(TYPE.certificate)
    .u8(FORMAT_VERSION)
    .u8(KEY_SUITE_ID)
    .u8(SIGNATURE_SUITES[suite].id)
    .u8(f.flags ?? 0)
    .u64(f.serial)
    .u64(f.notBefore)
    .u64(f.notAfter)
    .u32(f.keyEpoch)
    .fixed(f.publicKeys.falcon, KEY_LENGTHS.falcon, 'publicKeys.falcon')
    .fixed(f.publicKeys.mlKem, KEY_LENGTHS.mlKem, 'publicKeys.mlKem')
    .fixed(f.publicKeys.x25519, KEY_LENGTHS.x25519, 'publicKeys.x25519')
    .string16(f.subject)
    .string16(issuer)
    .u8(f.publish.length);
  for (const filter of f.publish) w.string16(filter);
  w.u8(f.subscribe.length);
  for (const filter of f.subscribe) w.string16(filter);
  return w;
}

export interface IssueOptions {
  /** 88 bytes: a deterministic signature (test vectors only). */
  readonly signingSeed?: Uint8Array;
}

/**
 * Issues a certificate for `fields`, signed by `ca`.
 *
 * @throws TypeError/RangeError naming an invalid field; ConfigError('DESTROYED')
 *   for a destroyed CA.
 * @example const cert = issueCertificate(ca, { subject: 'plc-7', serial: 1, notBefore, notAfter, keyEpoch: 1,
 *   publicKeys: plc.publicKeys, publish: ['plant/line1/#'], subscribe: ['plant/commands/plc-7'] });
 */
export function issueCertificate(ca: CertificateAuthority, fields: CertificateFields, options: IssueOptions = {}): Certificate {
  checkFields(fields);
  const tbs = writeTbs(new ByteWriter(MAX_CERTIFICATE_BYTES), fields, ca.id, ca.suite).finish();
  const signature = signAsAuthority(ca, LABELS.certificate, tbs, options.signingSeed);
  const bytes = new ByteWriter(tbs.length + 2 + signature.length).fixed(tbs, tbs.length, 'tbs').bytes16(signature).finish();
  return decodeCertificate(bytes);
}

/**
 * The canonical encoding of a certificate (equal to the bytes it was decoded
 * from: the format has exactly one encoding per certificate).
 *
 * @throws TypeError/RangeError if a field is invalid.
 */
export function encodeCertificate(cert: Certificate): Uint8Array {
  checkFields(cert);
  const suite = SIGNATURE_SUITES[cert.signatureSuite];
  if (!suite) throw new RangeError(`unknown signature suite ${String(cert.signatureSuite)}`);
  validateSubjectId(cert.issuer, 'issuer');
  if (cert.signature.length < 1 || cert.signature.length > suite.signer.lengths.signature) {
    throw new RangeError(`signature must be 1 to ${suite.signer.lengths.signature} bytes`);
  }
  return writeTbs(new ByteWriter(MAX_CERTIFICATE_BYTES), cert, cert.issuer, cert.signatureSuite).bytes16(cert.signature).finish();
}

/**
 * Parses a certificate: pure parsing, no cryptography, no clock.
 *
 * @throws SecurityError TOO_LARGE (longer than MAX_CERTIFICATE_BYTES),
 *   UNSUPPORTED_VERSION (version or suite), MALFORMED (anything else).
 */
/** Certificates this module decoded: frozen, so their fields still match their bytes. */
const decoded = new WeakSet<Certificate>();

export function decodeCertificate(bytes: Uint8Array): Certificate {
  boundInput(bytes, MAX_CERTIFICATE_BYTES, 'certificate');
  const r = new ByteReader(bytes);
  if (r.u8('type') !== TYPE.certificate) malformed('certificate: wrong type byte');
  const version = r.u8('version');
  if (version !== FORMAT_VERSION) unsupported(`certificate: format version ${version}`);
  const keySuite = r.u8('key suite');
  if (keySuite !== KEY_SUITE_ID) unsupported(`certificate: key suite ${keySuite}`);
  const signatureSuite = signatureSuiteFromId(r.u8('signature suite'), 'certificate');
  const flags = r.u8('flags');
  if ((flags & ~KNOWN_FLAGS) !== 0) malformed(`certificate: reserved flag bits set (0x${flags.toString(16)})`);
  const serial = r.u64('serial');
  const notBefore = r.u64('notBefore');
  const notAfter = r.u64('notAfter');
  if (notBefore > notAfter) malformed('certificate: notBefore is after notAfter');
  const keyEpoch = r.u32('key epoch');
  const publicKeys: PublicKeys = Object.freeze({
    falcon: r.fixed(KEY_LENGTHS.falcon, 'falcon public key').slice(),
    mlKem: r.fixed(KEY_LENGTHS.mlKem, 'ML-KEM public key').slice(),
    x25519: r.fixed(KEY_LENGTHS.x25519, 'X25519 public key').slice(),
  });
  const subject = readSubject(r, 'subject');
  const issuer = readSubject(r, 'issuer');
  const readRights = (what: string): string[] => {
    const count = r.u8(`${what} count`);
    if (count > MAX_RIGHTS) malformed(`certificate: ${count} ${what} filters, at most ${MAX_RIGHTS}`);
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(readFilter(r, `${what}[${i}]`));
    return out;
  };
  const publish = readRights('publish');
  const subscribe = readRights('subscribe');
  if (rightsBytes(publish) + rightsBytes(subscribe) > MAX_RIGHTS_BYTES) {
    malformed(`certificate: filters exceed ${MAX_RIGHTS_BYTES} bytes`);
  }
  const tbs = r.consumed().slice();
  const signature = r.bytes16(SIGNATURE_SUITES[signatureSuite].signer.lengths.signature, 'signature').slice();
  if (signature.length === 0) malformed('certificate: empty signature');
  r.end('certificate');
  const cert: Certificate = Object.freeze({
    version,
    keySuite,
    signatureSuite,
    flags,
    serial,
    notBefore,
    notAfter,
    keyEpoch,
    publicKeys,
    subject,
    issuer,
    publish: Object.freeze(publish) as string[],
    subscribe: Object.freeze(subscribe) as string[],
    signature,
    tbs,
    bytes: bytes.slice(),
  });
  decoded.add(cert);
  return cert;
}

export interface VerifyOptions {
  /** The time to check the validity window against (ms since the epoch). Default Date.now(). */
  readonly now?: number;
}

/**
 * Decodes (if given bytes) and verifies a certificate against `anchor`, in
 * this order: parse (MALFORMED, TOO_LARGE, UNSUPPORTED_VERSION); issuer id and
 * signature suite are the anchor's, and the signature over
 * LABELS.certificate || tbs verifies (BAD_SIGNATURE); notBefore <= now <=
 * notAfter (EXPIRED). Revocation and rollback are the trust store's checks.
 * A Certificate object not made by decodeCertificate is re-decoded from its
 * `bytes`, so its fields cannot disagree with what was signed.
 *
 * @returns the verified certificate.
 * @throws SecurityError with the first failing check's code; TypeError if
 *   `now` is not a finite number.
 */
export function verifyCertificate(cert: Certificate | Uint8Array, anchor: TrustAnchor, options: VerifyOptions = {}): Certificate {
  const now = afinite(options.now ?? Date.now(), 'now');
  const c = cert instanceof Uint8Array || !decoded.has(cert) ? decodeCertificate(cert instanceof Uint8Array ? cert : cert.bytes) : cert;
  const sender = c.subject;
  if (c.issuer !== anchor.id || c.signatureSuite !== anchor.suite) {
    throw new SecurityError('BAD_SIGNATURE', {
      sender,
      detail: `certificate issued by ${c.issuer} (${c.signatureSuite}), not by the trust anchor ${anchor.id} (${anchor.suite})`,
    });
  }
  if (!verifyByAnchor(anchor, LABELS.certificate, c.tbs, c.signature)) {
    throw new SecurityError('BAD_SIGNATURE', { sender, detail: 'certificate signature does not verify' });
  }
  if (now < c.notBefore) {
    throw new SecurityError('EXPIRED', { sender, detail: `certificate not valid before ${new Date(c.notBefore).toISOString()}` });
  }
  if (now > c.notAfter) {
    throw new SecurityError('EXPIRED', { sender, detail: `certificate expired at ${new Date(c.notAfter).toISOString()}` });
  }
  return c;
}

/** True if the certificate has every bit of `flag` (a CERT_FLAGS value). */
export function hasFlag(cert: Pick<Certificate, 'flags'>, flag: number): boolean {
  return (cert.flags & flag) === flag && flag !== 0;
}

/**
 * True if the certificate grants publishing to topic name `topic` (some
 * publish filter matches it). False for an invalid topic name. Checks rights
 * only: get the certificate from TrustStore.get, which checks the rest.
 */
export function mayPublish(cert: Pick<Certificate, 'publish'>, topic: string): boolean {
  if (!isValidTopicName(topic)) return false;
  return cert.publish.some((filter) => topicMatches(filter, topic));
}

/**
 * True if the certificate grants subscribing to `filter`: one subscribe filter
 * alone covers every topic `filter` matches (conservative: coverage by a union
 * of filters is not recognised). False for an invalid filter.
 */
export function maySubscribe(cert: Pick<Certificate, 'subscribe'>, filter: string): boolean {
  if (!isValidTopicFilter(filter)) return false;
  return cert.subscribe.some((granted) => filterCovers(granted, filter));
}
