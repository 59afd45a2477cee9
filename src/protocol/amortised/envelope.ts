// Amortised mode, the envelope: a group data envelope with flags AMORTISED and
// no signature, sealed and opened here, and the entry digest a batch manifest
// lists for it. Layout and check order: docs/PROTOCOL.md, "Amortised mode";
// the overview is in ../amortised.ts. This is the per-message path of the
// high-rate mode, so sealing writes one buffer in place and the header prefix
// is built once per epoch's keys.

import { AE_PARAMS, shake256Public } from '../../../bindings/index.js';
import { SecurityError } from '../../errors.js';
import { ByteReader, ByteWriter, boundInput } from '../../wire/codec.js';
import { unsupported } from '../../wire/fields.js';
import { LABELS } from '../../wire/labels.js';
import { MAX_SUBJECT_BYTES } from '../../wire/subject-id.js';
import { checkGroupSeal, groupNonce, readGroupBody, type GroupBodyFields, type GroupEpochKeys } from '../group.js';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  ENVELOPE_TYPE,
  FLAGS,
  MAX_CHANNEL_BYTES,
  PROTOCOL_VERSION,
  SUITE_DEFAULT,
  readHeaderFlags,
  topicField,
} from '../envelope.js';

/** Digest length of an entry (SHAKE-256 output). */
export const ENTRY_DIGEST_BYTES = 32;

const AE_TAG_BYTES = AE_PARAMS.lengths.tag;
const ENVELOPE_FIXED = 4 + 2 + 2 + 4 + 8 + 8 + 4 + AE_TAG_BYTES;

/** The largest amortised envelope carrying at most `maxPayloadBytes`. */
export function maxAmortisedBytes(maxPayloadBytes: number = DEFAULT_MAX_PAYLOAD_BYTES): number {
  return ENVELOPE_FIXED + MAX_SUBJECT_BYTES + MAX_CHANNEL_BYTES + maxPayloadBytes;
}

/** Reads a header of `type` whose flags byte must be exactly `flags` (shared with the manifest's decoder). */
export function readHeaderWithFlags(r: ByteReader, type: number, flags: number, what: string): void {
  const f = readHeaderFlags(r, type, what);
  if (f !== flags) unsupported(`${what}: flags 0x${f.toString(16)}, expected 0x${flags.toString(16)}`);
}

/** True if `bytes` claims to be an amortised group envelope (type M, flags AMORTISED); proves nothing. */
export function isAmortisedEnvelope(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === ENVELOPE_TYPE.group && bytes[3] === FLAGS.amortised;
}

/** The entry digest a manifest lists for `envelope` received (or published) on `topic`. */
export function entryDigest(topic: string, envelope: Uint8Array): Uint8Array {
  return shake256Public([LABELS.amortisedEntry, topicField(topic), envelope], ENTRY_DIGEST_BYTES);
}

/** An amortised envelope carries the group body and no signature. */
export type AmortisedFields = GroupBodyFields;

/**
 * Parses an amortised envelope (no cryptography, no policy).
 * @throws SecurityError TOO_LARGE, MALFORMED or UNSUPPORTED_VERSION.
 */
export function decodeAmortised(bytes: Uint8Array, maxPayloadBytes: number = DEFAULT_MAX_PAYLOAD_BYTES): AmortisedFields {
  const what = 'amortised envelope';
  boundInput(bytes, maxAmortisedBytes(maxPayloadBytes), what);
  const r = new ByteReader(bytes);
  readHeaderWithFlags(r, ENVELOPE_TYPE.group, FLAGS.amortised, what);
  const body = readGroupBody(r, what, maxPayloadBytes);
  r.end(what);
  return body;
}

/**
 * AAD of an amortised envelope: header || string16(topic), as for signed group envelopes (the flags byte
 * differs). As two parts: the cipher authenticates their concatenation without a copy being made.
 */
export function amortisedAad(header: Uint8Array, topic: string): readonly [Uint8Array, Uint8Array] {
  return [header, topicField(topic)];
}

export interface SealAmortisedOptions {
  readonly sender: string;
  readonly keys: GroupEpochKeys;
  readonly topic: string;
  readonly payload: Uint8Array;
  /** Unique per (sender, channel) for ever, shared with the signed envelopes of the channel. */
  readonly seq: number;
  readonly now: number;
  readonly maxPayloadBytes?: number;
}

/**
 * The bytes every amortised envelope of one epoch's keys starts with: type, version, suite, flags,
 * string16(sender), string16(channel), u32(epoch). Built once per epoch instead of once per message.
 */
const envelopePrefixes = new WeakMap<GroupEpochKeys, Uint8Array>();

function envelopePrefix(keys: GroupEpochKeys): Uint8Array {
  let prefix = envelopePrefixes.get(keys);
  if (prefix === undefined) {
    prefix = new ByteWriter(16 + keys.sender.length * 3 + keys.channel.length * 3)
      .u8(ENVELOPE_TYPE.group)
      .u8(PROTOCOL_VERSION)
      .u8(SUITE_DEFAULT)
      .u8(FLAGS.amortised)
      .string16(keys.sender)
      .string16(keys.channel)
      .u32(keys.epoch)
      .finish();
    envelopePrefixes.set(keys, prefix);
  }
  return prefix;
}

/** Encrypts `payload` as an amortised envelope; returns it with its entry digest. Not signed: a manifest must follow. */
export function sealAmortised(opts: SealAmortisedOptions): { bytes: Uint8Array; digest: Uint8Array } {
  checkGroupSeal(opts.keys, opts.sender, opts);
  return sealAmortisedUnchecked(opts);
}

/** sealAmortised without its argument checks, for a caller that made them (as sealGroupUnchecked). */
export function sealAmortisedUnchecked(opts: SealAmortisedOptions): { bytes: Uint8Array; digest: Uint8Array } {
  const { keys, payload } = opts;
  // One buffer, written in place: header | u32(|ct|) | ciphertext || tag (the cipher writes into it).
  const prefix = envelopePrefix(keys);
  const headerLength = prefix.length + 16;
  const sealedLength = payload.length + AE_TAG_BYTES;
  const bytes = new Uint8Array(headerLength + 4 + sealedLength);
  bytes.set(prefix);
  const view = new DataView(bytes.buffer);
  view.setUint32(prefix.length, Math.floor(opts.seq / 2 ** 32));
  view.setUint32(prefix.length + 4, opts.seq >>> 0);
  view.setUint32(prefix.length + 8, Math.floor(opts.now / 2 ** 32));
  view.setUint32(prefix.length + 12, opts.now >>> 0);
  view.setUint32(headerLength, sealedLength);
  keys.ae.sealInto(bytes, headerLength + 4, groupNonce(keys.iv, opts.seq), payload, amortisedAad(bytes.subarray(0, headerLength), opts.topic));
  return { bytes, digest: entryDigest(opts.topic, bytes) };
}

/**
 * Decrypts a decoded amortised envelope received on `topic`.
 * @throws SecurityError DECRYPT_FAILED if the tag does not verify (wrong key, nonce, topic or modified bytes).
 */
export function decryptAmortised(keys: GroupEpochKeys, f: Pick<AmortisedFields, 'seq' | 'header' | 'ciphertext'>, topic: string): Uint8Array {
  const payload = f.ciphertext.length < AE_TAG_BYTES ? undefined : keys.ae.open(groupNonce(keys.iv, f.seq), f.ciphertext, amortisedAad(f.header, topic));
  if (payload === undefined) throw new SecurityError('DECRYPT_FAILED');
  return payload;
}
