// Amortised mode, the batch manifest (type 'B'): one Falcon-512 signature over
// the (sequence number, entry digest) pairs of a batch of amortised envelopes
// published on one topic. Sealed (sync, or with a signing worker), decoded and
// verified here. Layout and check order: docs/PROTOCOL.md, "Amortised mode";
// the overview is in ../amortised.ts.

import { aint } from '../../../bindings/assert-sdk.js';
import { mayPublish, type Certificate } from '../../certs/certificate.js';
import { verifyFalcon512 } from '../../crypto/falcon-verify.js';
import { SecurityError } from '../../errors.js';
import type { Identity } from '../../identity/identity.js';
import { topicMatches } from '../../topic/grammar.js';
import { ByteReader, ByteWriter, boundInput } from '../../wire/codec.js';
import { malformed, readFilter, readSubject } from '../../wire/fields.js';
import { LABELS, signedMessage } from '../../wire/labels.js';
import { MAX_SUBJECT_BYTES } from '../../wire/subject-id.js';
import {
  ENVELOPE_TYPE,
  FLAGS,
  MAX_CHANNEL_BYTES,
  MAX_SIGNATURE_BYTES,
  PROTOCOL_VERSION,
  SUITE_DEFAULT,
  checkTopicArg,
  topicField,
  type CertificateSource,
} from '../envelope.js';
import { ENTRY_DIGEST_BYTES, readHeaderWithFlags } from './envelope.js';

/** Type byte of a batch manifest ('B'): distinct from every other encoding's (A C I N R D G M Q). */
export const MANIFEST_TYPE = ENVELOPE_TYPE.manifest;

/** Most entries one manifest may carry (a parser bound; publishers use maxBatch). */
export const MAX_MANIFEST_ENTRIES = 1024;

const ENTRY_BYTES = 8 + ENTRY_DIGEST_BYTES;
const MANIFEST_FIXED = 4 + 2 + 2 + 4 + 8 + 2 + 2;

/** The largest manifest (1,024 entries). */
export const MAX_MANIFEST_BYTES = MANIFEST_FIXED + MAX_SUBJECT_BYTES + MAX_CHANNEL_BYTES + MAX_MANIFEST_ENTRIES * ENTRY_BYTES + MAX_SIGNATURE_BYTES;

export interface ManifestEntry {
  readonly seq: number;
  readonly digest: Uint8Array;
}

export interface ManifestFields {
  readonly sender: string;
  readonly channel: string;
  readonly epoch: number;
  readonly timestamp: number;
  /** Strictly increasing sequence numbers. */
  readonly entries: readonly ManifestEntry[];
  readonly signature: Uint8Array;
  /** Every byte before the signature's length prefix. */
  readonly tbs: Uint8Array;
}

function manifestTbs(tbs: Uint8Array, topic: string): Uint8Array {
  return signedMessage(LABELS.amortisedManifest, tbs, topicField(topic));
}

export interface SealManifestOptions {
  readonly sender: Identity;
  readonly channel: string;
  readonly epoch: number;
  /** The topic the batch's messages were published on (the manifest goes to the same topic). */
  readonly topic: string;
  readonly entries: readonly ManifestEntry[];
  readonly now: number;
  /** Known-answer vectors only: the Falcon signing seed. */
  readonly signSeed?: Uint8Array;
}

/** Signs a batch manifest. @throws RangeError for an empty, oversized or unordered batch. */
export function sealManifest(opts: SealManifestOptions): Uint8Array {
  const { tbs, message } = manifestToSign(opts);
  return finishManifest(tbs, opts.sender.sign(message, opts.signSeed));
}

/** sealManifest, with the signature made by `sign` (a signing worker). */
export async function sealManifestAsync(opts: Omit<SealManifestOptions, 'signSeed'>, sign: (message: Uint8Array) => Promise<Uint8Array>): Promise<Uint8Array> {
  const { tbs, message } = manifestToSign(opts);
  return finishManifest(tbs, await sign(message));
}

function finishManifest(tbs: Uint8Array, signature: Uint8Array): Uint8Array {
  return new ByteWriter(tbs.length + 2 + signature.length).fixed(tbs, tbs.length, 'tbs').bytes16(signature).finish();
}

/** The manifest's bytes before the signature, and what the signature covers. */
function manifestToSign(opts: Omit<SealManifestOptions, 'signSeed'>): { tbs: Uint8Array; message: Uint8Array } {
  const n = opts.entries.length;
  if (n < 1 || n > MAX_MANIFEST_ENTRIES) throw new RangeError(`a manifest carries 1..${MAX_MANIFEST_ENTRIES} entries, got ${n}`);
  checkTopicArg(opts.topic);
  if (!topicMatches(opts.channel, opts.topic)) throw new RangeError(`topic ${opts.topic} is outside channel ${opts.channel}`);
  const w = new ByteWriter(64 + opts.channel.length * 3 + n * ENTRY_BYTES)
    .u8(MANIFEST_TYPE)
    .u8(PROTOCOL_VERSION)
    .u8(SUITE_DEFAULT)
    .u8(FLAGS.signed)
    .string16(opts.sender.id)
    .string16(opts.channel)
    .u32(aint(opts.epoch, 0, 0xffffffff, 'epoch'))
    .u64(aint(opts.now, 0, Number.MAX_SAFE_INTEGER, 'now'))
    .u16(n);
  let last = -1;
  for (const e of opts.entries) {
    if (e.seq <= last) throw new RangeError('manifest entries must have strictly increasing sequence numbers');
    if (e.digest.length !== ENTRY_DIGEST_BYTES) throw new RangeError(`entry digest must be ${ENTRY_DIGEST_BYTES} bytes`);
    last = e.seq;
    w.u64(e.seq).fixed(e.digest, ENTRY_DIGEST_BYTES, 'digest');
  }
  const tbs = w.finish();
  return { tbs, message: manifestTbs(tbs, opts.topic) };
}

/**
 * Parses a manifest (no cryptography, no policy).
 * @throws SecurityError TOO_LARGE, MALFORMED or UNSUPPORTED_VERSION.
 */
export function decodeManifest(bytes: Uint8Array): ManifestFields {
  const what = 'batch manifest';
  boundInput(bytes, MAX_MANIFEST_BYTES, what);
  const r = new ByteReader(bytes);
  readHeaderWithFlags(r, MANIFEST_TYPE, FLAGS.signed, what);
  const sender = readSubject(r, `${what} sender`);
  const channel = readFilter(r, `${what} channel`);
  const epoch = r.u32(`${what} epoch`);
  const timestamp = r.u64(`${what} timestamp`);
  const n = r.u16(`${what} count`);
  if (n < 1 || n > MAX_MANIFEST_ENTRIES) malformed(`${what}: ${n} entries, 1..${MAX_MANIFEST_ENTRIES} allowed`);
  if (r.remaining < n * ENTRY_BYTES) malformed(`${what}: ${n} entries need ${n * ENTRY_BYTES} bytes, ${r.remaining} left`);
  const entries: ManifestEntry[] = [];
  let last = -1;
  for (let i = 0; i < n; i++) {
    const seq = r.u64(`${what} entry sequence number`);
    if (seq <= last) malformed(`${what}: sequence numbers not strictly increasing`);
    last = seq;
    entries.push({ seq, digest: r.fixed(ENTRY_DIGEST_BYTES, `${what} entry digest`) });
  }
  const tbs = r.consumed();
  const signature = r.bytes16(MAX_SIGNATURE_BYTES, `${what} signature`);
  if (signature.length === 0) malformed(`${what} signature: empty`);
  r.end(what);
  return { sender, channel, epoch, timestamp, entries, signature, tbs };
}

export interface VerifyManifestOptions {
  readonly receivedTopic: string;
  readonly trust: CertificateSource;
  readonly now: number;
  readonly maxAgeMs: number;
  readonly clockSkewMs: number;
}

export interface VerifiedManifest extends ManifestFields {
  readonly senderCertificate: Certificate;
  readonly topic: string;
}

/**
 * Verifies a manifest received on `receivedTopic`. Check order: bound, parse,
 * version/suite/flags, channel matches the topic (TOPIC_MISMATCH), sender's
 * certificate, channel is a publish filter of the sender and the topic is
 * granted (NOT_AUTHORISED), timestamp (FROM_FUTURE, TOO_OLD), signature
 * (BAD_SIGNATURE). Pure: nothing changes.
 */
export function verifyManifest(bytes: Uint8Array, opts: VerifyManifestOptions): VerifiedManifest {
  checkTopicArg(opts.receivedTopic, 'receivedTopic');
  const f = decodeManifest(bytes);
  const topic = opts.receivedTopic;
  if (!topicMatches(f.channel, topic)) throw new SecurityError('TOPIC_MISMATCH', { sender: f.sender, topic, detail: `manifest of channel ${f.channel}` });
  const cert = opts.trust.get(f.sender, opts.now);
  if (!cert.publish.includes(f.channel) || !mayPublish(cert, topic)) {
    throw new SecurityError('NOT_AUTHORISED', { sender: f.sender, topic, detail: `${f.channel} is not a publish right of the sender` });
  }
  if (f.timestamp > opts.now + opts.clockSkewMs) throw new SecurityError('FROM_FUTURE', { sender: f.sender, topic, detail: 'batch manifest' });
  if (f.timestamp < opts.now - opts.maxAgeMs) throw new SecurityError('TOO_OLD', { sender: f.sender, topic, detail: 'batch manifest' });
  if (!verifyFalcon512(f.signature, manifestTbs(f.tbs, topic), cert.publicKeys.falcon)) {
    throw new SecurityError('BAD_SIGNATURE', { sender: f.sender, topic, detail: 'batch manifest signature' });
  }
  return { ...f, senderCertificate: cert, topic };
}
