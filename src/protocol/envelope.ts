// What every envelope of docs/PROTOCOL.md ("Envelopes") shares: the type
// bytes, the version/suite/flags header, the field bounds, the sealing side's
// argument checks, and the narrow views of the other modules (certificates,
// replay) the envelopes depend on. The field readers every encoding shares
// are in src/wire/fields.ts.

import { falcon512 } from '../../bindings/index.js';
import type { Certificate } from '../certs/certificate.js';
import { SecurityError } from '../errors.js';
import type { ReplayVerdict, StreamKey } from '../replay/guard.js';
import { validateTopicFilter, validateTopicName } from '../topic/grammar.js';
import type { ByteReader, ByteWriter } from '../wire/codec.js';
import { MAX_FILTER_BYTES, MAX_TOPIC_NAME_BYTES, encodeUtf8, malformed, unsupported } from '../wire/fields.js';

/**
 * First byte of each envelope. Distinct from each other and from the
 * certificate encodings' type bytes ('I', 'A', 'C', 'R', 'N': TYPE in
 * src/wire/encoding-ids.ts), so no message of one kind parses as another, and
 * every signature covers it.
 */
export const ENVELOPE_TYPE = Object.freeze({
  direct: 0x44, // 'D': one recipient, application payload (commands)
  grant: 0x47, // 'G': one recipient, a key grant as payload
  group: 0x4d, // 'M': group data message under an epoch key
  keyRequest: 0x51, // 'Q': a subscriber asks a publisher for a channel's key
  manifest: 0x42, // 'B': a batch manifest of amortised mode (src/protocol/amortised/manifest.ts)
});

export const PROTOCOL_VERSION = 1;

/**
 * Suite 1: hybrid ML-KEM-768 + X25519 (HKDF-SHA-256 combiner), Falcon-512
 * signatures, AES-256-GCM, HKDF-SHA-256. The only suite of version 1; other
 * values are UNSUPPORTED_VERSION.
 */
export const SUITE_DEFAULT = 1;

/**
 * Flags byte. Version 1 requires exactly SIGNED (every message carries its
 * own Falcon signature). AMORTISED is reserved for a later mode in which a
 * signature covers a batch or a hash chain of messages; a version 1 reader
 * rejects it, and any unknown bit, as UNSUPPORTED_VERSION.
 */
export const FLAGS = Object.freeze({ signed: 0x01, amortised: 0x02 });

/** Falcon-512 signatures are at most 752 bytes (PQClean's CRYPTO_BYTES). */
export const MAX_SIGNATURE_BYTES = falcon512.lengths.signature;

/** Longest topic name an envelope carries or binds, in UTF-8 bytes. */
export const MAX_ENVELOPE_TOPIC_BYTES = MAX_TOPIC_NAME_BYTES;

/** Longest channel (a certificate's publish filter), in UTF-8 bytes: the certificates' own bound. */
export const MAX_CHANNEL_BYTES = MAX_FILTER_BYTES;

/** Default bound on an application payload (direct or group), in bytes. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20;

/** The certificate lookup the envelopes need: TrustStore satisfies it. */
export interface CertificateSource {
  /**
   * The subject's current certificate.
   * @throws SecurityError UNKNOWN_SENDER, EXPIRED or REVOKED.
   */
  get(subjectId: string, now: number): Certificate;
  /** Whether the revocation list can be relied on (TrustStore.revocationStatus); a source without lists has none. */
  revocationStatus?(now: number, graceMs: number): 'none' | 'fresh' | 'stale';
}

/** The replay state the envelopes need: ReplayGuard satisfies it. */
export interface ReplayCheck {
  check(key: StreamKey, seq: number, timestampMs: number): ReplayVerdict;
  accept(key: StreamKey, seq: number, timestampMs?: number): Promise<void>;
}

/** Writes the 4-byte header: type, version, suite, flags. */
export function writeHeader(w: ByteWriter, type: number): ByteWriter {
  return w.u8(type).u8(PROTOCOL_VERSION).u8(SUITE_DEFAULT).u8(FLAGS.signed);
}

/**
 * Reads and checks the 4-byte header before anything else: the version
 * decides how the rest parses. A wrong type is MALFORMED (it is another kind
 * of message); an unknown version, suite or flag combination is
 * UNSUPPORTED_VERSION.
 */
export function readHeader(r: ByteReader, type: number, what: string): void {
  const flags = readHeaderFlags(r, type, what);
  if (flags !== FLAGS.signed) {
    unsupported(
      (flags & FLAGS.amortised) !== 0
        ? `${what}: amortised authentication is not supported by version 1`
        : `${what}: flags 0x${flags.toString(16)} (version 1 requires exactly SIGNED)`,
    );
  }
}

/** Checks type, version and suite as readHeader does, and returns the flags byte for the caller to check. */
export function readHeaderFlags(r: ByteReader, type: number, what: string): number {
  const t = r.u8(`${what} type`);
  if (t !== type) malformed(`${what}: type byte 0x${t.toString(16)}, expected 0x${type.toString(16)}`);
  const version = r.u8(`${what} version`);
  if (version !== PROTOCOL_VERSION) unsupported(`${what}: version ${version}`);
  const suite = r.u8(`${what} suite`);
  if (suite !== SUITE_DEFAULT) unsupported(`${what}: suite ${suite}`);
  return r.u8(`${what} flags`);
}

// Topics and channels come back with every message: their UTF-8 forms are
// remembered (bounded, cleared when full; short strings only).
const TEXT_MEMO_LIMIT = 1024;
const TEXT_MEMO_MAX_LENGTH = 512;
const topicFields = new Map<string, Uint8Array>();

function utf8Length(text: string): number {
  return topicFields.get(text)?.length ?? encodeUtf8(text).length + 2;
}

/**
 * string16(topic): the topic as bound into AADs, signatures and digests.
 * The array is shared between calls: read it, never modify it.
 */
export function topicField(topic: string): Uint8Array {
  const known = topicFields.get(topic);
  if (known !== undefined) return known;
  const t = encodeUtf8(topic);
  if (t.length > 0xffff) throw new RangeError(`topic must be at most 65,535 UTF-8 bytes, got ${t.length}`);
  const field = new Uint8Array(t.length + 2);
  field[0] = t.length >>> 8;
  field[1] = t.length & 0xff;
  field.set(t, 2);
  if (topic.length <= TEXT_MEMO_MAX_LENGTH) {
    if (topicFields.size >= TEXT_MEMO_LIMIT) topicFields.clear();
    topicFields.set(topic, field);
  }
  return field;
}

function checkTextArg(text: string, maxBytes: number, what: string): void {
  const n = utf8Length(text) - 2;
  if (n > maxBytes) throw new RangeError(`${what} must be at most ${maxBytes} UTF-8 bytes, got ${n}`);
}

/** The envelope's bounds on a topic and a channel, after their MQTT grammar (TypeError/RangeError naming the argument). */
export function checkTopicArg(topic: string, what = 'topic'): string {
  validateTopicName(topic);
  checkTextArg(topic, MAX_ENVELOPE_TOPIC_BYTES, what);
  return topic;
}

export function checkFilterArg(filter: string, what = 'channel'): string {
  validateTopicFilter(filter);
  checkTextArg(filter, MAX_CHANNEL_BYTES, what);
  return filter;
}

/** Turns a replay verdict into the SecurityError it stands for. */
export function replayFailure(verdict: ReplayVerdict, sender: string, topic: string | undefined, authentic?: () => boolean): void {
  if (verdict.ok) return;
  // A DUPLICATE is an exact, authentic redelivery (QoS 1 retry), dropped quietly;
  // a tampered copy of an accepted message is an attack and says so.
  if (verdict.code === 'DUPLICATE' && authentic && !authentic()) {
    throw new SecurityError('BAD_SIGNATURE', { sender, ...(topic === undefined ? {} : { topic }), detail: 'a tampered copy of an accepted message' });
  }
  throw new SecurityError(verdict.code, { sender, ...(topic === undefined ? {} : { topic }), ...(verdict.detail === undefined ? {} : { detail: verdict.detail }) });
}
