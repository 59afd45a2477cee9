// Certificate announcements: what a client publishes (retained) under the
// control prefix so others learn its certificate. The subject signs
// LABELS.announce || tbs with its own Falcon key: proof that whoever announces
// the certificate holds its secret key.

import { afinite, auint } from '../../bindings/assert-sdk.js';
import { falcon512 } from '../../bindings/index.js';
import { verifyFalcon512 } from '../crypto/falcon-verify.js';
import { ConfigError, SecurityError } from '../errors.js';
import type { Identity } from '../identity/identity.js';
import { equalBytes } from '../wire/bytes.js';
import { ByteReader, ByteWriter, boundInput } from '../wire/codec.js';
import { FORMAT_VERSION, TYPE } from '../wire/encoding-ids.js';
import { malformed, unsupported } from '../wire/fields.js';
import { LABELS, signedMessage } from '../wire/labels.js';
import { MAX_CERTIFICATE_BYTES, decodeCertificate, type Certificate } from './certificate.js';
import type { TrustStore } from './trust-store.js';

const MAX_SIGNATURE = falcon512.lengths.signature;

/** The largest announcement encoding, in bytes. */
export const MAX_ANNOUNCEMENT_BYTES = 2 + 8 + 2 + MAX_CERTIFICATE_BYTES + 2 + MAX_SIGNATURE;

export interface Announcement {
  readonly version: number;
  /** When the subject signed it (ms since the epoch). */
  readonly timestamp: number;
  /** The announced certificate, decoded but not verified by decodeAnnouncement. */
  readonly certificate: Certificate;
  readonly signature: Uint8Array;
  readonly tbs: Uint8Array;
  readonly bytes: Uint8Array;
}

export interface AnnounceOptions {
  /** Default Date.now(). */
  readonly timestamp?: number;
  /** 88 bytes: a deterministic signature (test vectors only). */
  readonly signingSeed?: Uint8Array;
}

/**
 * An announcement of `certificate` signed by `identity`, which must be the
 * certificate's subject and hold its Falcon key.
 *
 * @throws ConfigError('IDENTITY_MISMATCH') if the identity is not the
 *   certificate's subject or key; ConfigError('DESTROYED'); SecurityError if
 *   `certificate` bytes do not parse.
 */
export function createAnnouncement(identity: Identity, certificate: Certificate | Uint8Array, options: AnnounceOptions = {}): Uint8Array {
  const cert = decodeCertificate(certificate instanceof Uint8Array ? certificate : certificate.bytes);
  if (cert.subject !== identity.id || !equalBytes(cert.publicKeys.falcon, identity.publicKeys.falcon)) {
    throw new ConfigError('IDENTITY_MISMATCH', `the certificate of ${cert.subject} does not belong to identity ${identity.id}`);
  }
  const timestamp = options.timestamp ?? Date.now();
  auint(timestamp, 'timestamp');
  const tbs = new ByteWriter(cert.bytes.length + 32)
    .u8(TYPE.announcement)
    .u8(FORMAT_VERSION)
    .u64(timestamp)
    .bytes16(cert.bytes)
    .finish();
  const signature = identity.sign(signedMessage(LABELS.announce, tbs), options.signingSeed);
  return new ByteWriter(tbs.length + 2 + signature.length).fixed(tbs, tbs.length, 'tbs').bytes16(signature).finish();
}

/**
 * Parses an announcement and the certificate inside it: no cryptography.
 *
 * @throws SecurityError TOO_LARGE, UNSUPPORTED_VERSION or MALFORMED (also for
 *   the inner certificate).
 */
export function decodeAnnouncement(bytes: Uint8Array): Announcement {
  boundInput(bytes, MAX_ANNOUNCEMENT_BYTES, 'announcement');
  const r = new ByteReader(bytes);
  if (r.u8('type') !== TYPE.announcement) malformed('announcement: wrong type byte');
  const version = r.u8('version');
  if (version !== FORMAT_VERSION) unsupported(`announcement: format version ${version}`);
  const timestamp = r.u64('timestamp');
  const certBytes = r.bytes16(MAX_CERTIFICATE_BYTES, 'certificate');
  const tbs = r.consumed().slice();
  const signature = r.bytes16(MAX_SIGNATURE, 'signature').slice();
  if (signature.length === 0) malformed('announcement: empty signature');
  r.end('announcement');
  const certificate = decodeCertificate(certBytes);
  return Object.freeze({ version, timestamp, certificate, signature, tbs, bytes: bytes.slice() });
}

export interface VerifyAnnouncementOptions {
  /** Default Date.now(). */
  readonly now?: number;
  /** How far the timestamp may be ahead of `now` (FROM_FUTURE beyond). Default 5 minutes. */
  readonly maxSkewMs?: number;
  /** How old the timestamp may be (TOO_OLD beyond). Default: no limit (announcements are retained). */
  readonly maxAgeMs?: number;
}

/**
 * Verifies an announcement without changing the store, in this order: parse
 * (MALFORMED, TOO_LARGE, UNSUPPORTED_VERSION); the certificate passes every
 * trust store check (BAD_SIGNATURE, EXPIRED, REVOKED, ROLLBACK); the subject's
 * signature over LABELS.announce || tbs verifies under the certificate's
 * Falcon key (BAD_SIGNATURE); the timestamp is not ahead of `now` by more than
 * maxSkewMs (FROM_FUTURE) nor older than maxAgeMs (TOO_OLD).
 */
export function verifyAnnouncement(bytes: Uint8Array, store: TrustStore, options: VerifyAnnouncementOptions = {}): Announcement {
  const now = afinite(options.now ?? Date.now(), 'now');
  if (options.maxSkewMs !== undefined) afinite(options.maxSkewMs, 'maxSkewMs');
  if (options.maxAgeMs !== undefined) afinite(options.maxAgeMs, 'maxAgeMs');
  const a = decodeAnnouncement(bytes);
  const cert = store.check(a.certificate, now);
  const sender = cert.subject;
  if (!verifyFalcon512(a.signature, signedMessage(LABELS.announce, a.tbs), cert.publicKeys.falcon)) {
    throw new SecurityError('BAD_SIGNATURE', { sender, detail: 'announcement signature does not verify under the certificate key' });
  }
  const skew = options.maxSkewMs ?? 5 * 60_000;
  if (a.timestamp > now + skew) throw new SecurityError('FROM_FUTURE', { sender, detail: `announcement timestamp ${a.timestamp} is ahead of ${now}` });
  if (options.maxAgeMs !== undefined && now - a.timestamp > options.maxAgeMs) {
    throw new SecurityError('TOO_OLD', { sender, detail: `announcement is ${now - a.timestamp} ms old` });
  }
  return a;
}

/**
 * verifyAnnouncement, then store.addCertificate: the announced certificate
 * becomes the subject's current one.
 */
export async function acceptAnnouncement(bytes: Uint8Array, store: TrustStore, options: VerifyAnnouncementOptions = {}): Promise<Certificate> {
  const now = options.now ?? Date.now();
  const a = verifyAnnouncement(bytes, store, { ...options, now });
  return store.addCertificate(a.certificate, now);
}
