// Group data envelopes: one publisher, many subscribers, encrypted once under
// the publisher's epoch key for a channel. Layout, derivations and check
// order: docs/PROTOCOL.md, "Group data envelope".
//
//   header(type M, version, suite, flags) | sender | channel | epoch u32 | seq u64 | timestamp u64
//   | AES-256-GCM ct | Falcon-512 signature
//
// The received topic is not carried: it is bound by the AEAD's associated
// data (header || string16(topic)) and by the signature
// (LABELS.groupSignature || header || string16(topic) || bytes32(ct)), so a
// message redirected to another topic fails.

import { abytes, abytesMax, aint, auint } from '../../bindings/assert-sdk.js';
import { validateSubjectId } from '../wire/subject-id.js';
import { ae, falcon512, type AeKey } from '../../bindings/index.js';
import { mayPublish, type Certificate } from '../certs/certificate.js';
import type { RandomSource } from '../crypto/random.js';
import { AES_KEY_BYTES, AES_NONCE_BYTES, AES_TAG_BYTES, aesGcmOpen, aesGcmSeal, hkdf, importAesKey } from '../crypto/webcrypto.js';
import { SecurityError } from '../errors.js';
import type { Identity } from '../identity/identity.js';
import { topicMatches } from '../topic/grammar.js';
import { equalBytes } from '../wire/bytes.js';
import { ByteReader, ByteWriter, boundInput } from '../wire/codec.js';
import { malformed, readFilter, readSubject } from '../wire/fields.js';
import { LABELS, signedMessage } from '../wire/labels.js';
import { MAX_SUBJECT_BYTES } from '../wire/subject-id.js';
import { groupStream } from './streams.js';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  ENVELOPE_TYPE,
  MAX_CHANNEL_BYTES,
  MAX_SIGNATURE_BYTES,
  checkFilterArg,
  checkTopicArg,
  topicField,
  readHeader,
  replayFailure,
  writeHeader,
  type CertificateSource,
  type ReplayCheck,
} from './envelope.js';
import { verifyFalcon512 } from '../crypto/falcon-verify.js';

export const EPOCH_KEY_BYTES = 32;
const AE_KEY_BYTES = 32;
export const MAX_EPOCH = 0xffffffff;

const FIXED_BYTES = 4 + 2 + 2 + 4 + 8 + 8 + 4 + AES_TAG_BYTES + 2;

/** The largest group envelope carrying at most `maxPayloadBytes`. */
export function maxGroupBytes(maxPayloadBytes: number = DEFAULT_MAX_PAYLOAD_BYTES): number {
  return FIXED_BYTES + MAX_SUBJECT_BYTES + MAX_CHANNEL_BYTES + maxPayloadBytes + MAX_SIGNATURE_BYTES;
}

/** The AES key and nonce base of one (sender, channel, epoch); cache it for the epoch's life. */
export interface GroupEpochKeys {
  readonly sender: string;
  readonly channel: string;
  readonly epoch: number;
  /** Non-extractable AES-256-GCM key. */
  readonly key: CryptoKey;
  /** 12 bytes; nonce(seq) = iv XOR (0^32 || u64be(seq)). Wipe it when the epoch ends. */
  readonly iv: Uint8Array;
  /**
   * The amortised envelope's cipher (AES-256-CTR and KMAC256 keys, expanded in
   * wasm memory): synchronous, a few microseconds per message, where a
   * WebCrypto call costs tens. Free it when the epoch ends (retireGroupKeys).
   */
  readonly ae: AeKey;
}

/** The epoch is over for us: wipes the nonce base and the amortised cipher's keys (idempotent). */
export function retireGroupKeys(keys: GroupEpochKeys | undefined): void {
  if (!keys) return;
  keys.iv.fill(0);
  if (!keys.ae.freed) keys.ae.free();
}

function kdfInfo(label: Uint8Array, sender: string, channel: string, epoch: number): Uint8Array {
  return new ByteWriter(label.length + 300).fixed(label, label.length, 'label').string16(sender).string16(channel).u32(epoch).finish();
}

/**
 * Derives the epoch's AES key and nonce base from the 32-byte epoch key:
 *   key = HKDF-SHA-256(salt = empty, epochKey, LABELS.groupKey   || string16(sender) || string16(channel) || u32(epoch), 32)
 *   iv  = HKDF-SHA-256(salt = empty, epochKey, LABELS.groupNonce || string16(sender) || string16(channel) || u32(epoch), 12)
 * and the amortised envelope's cipher keys (same info with LABELS.amortisedEncKey / amortisedMacKey, 32 bytes each).
 * Does not keep or wipe `epochKey`.
 */
export async function deriveGroupKeys(epochKey: Uint8Array, sender: string, channel: string, epoch: number): Promise<GroupEpochKeys> {
  abytes(epochKey, EPOCH_KEY_BYTES, 'epoch key');
  validateSubjectId(sender, 'sender');
  checkFilterArg(channel);
  aint(epoch, 0, MAX_EPOCH, 'epoch');
  const none = new Uint8Array(0);
  const settled = await Promise.allSettled([
    hkdf(epochKey, none, kdfInfo(LABELS.groupKey, sender, channel, epoch), AES_KEY_BYTES),
    hkdf(epochKey, none, kdfInfo(LABELS.groupNonce, sender, channel, epoch), AES_NONCE_BYTES),
    hkdf(epochKey, none, kdfInfo(LABELS.amortisedEncKey, sender, channel, epoch), AE_KEY_BYTES),
    hkdf(epochKey, none, kdfInfo(LABELS.amortisedMacKey, sender, channel, epoch), AE_KEY_BYTES),
  ]);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    // The derivations that did succeed are wiped, not left to the garbage collector.
    for (const r of settled) if (r.status === 'fulfilled') r.value.fill(0);
    throw failed.reason;
  }
  const [raw, iv, enc, mac] = settled.map((r) => (r as PromiseFulfilledResult<Uint8Array>).value) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  try {
    const key = await importAesKey(raw);
    return Object.freeze({ sender, channel, epoch, key, iv, ae: ae.key(enc, mac) });
  } catch (err) {
    iv.fill(0);
    throw err;
  } finally {
    raw.fill(0);
    enc.fill(0);
    mac.fill(0);
  }
}

/** The nonce of sequence number `seq`: distinct for distinct seq under one epoch's keys. */
export function groupNonce(iv: Uint8Array, seq: number): Uint8Array {
  const nonce = iv.slice();
  const hi = Math.floor(seq / 2 ** 32);
  const lo = seq >>> 0;
  for (let i = 0; i < 4; i++) {
    nonce[4 + i]! ^= (hi >>> (24 - 8 * i)) & 0xff;
    nonce[8 + i]! ^= (lo >>> (24 - 8 * i)) & 0xff;
  }
  return nonce;
}

/** The fields every group envelope carries after its 4-byte header (signed and amortised alike). */
export interface GroupBodyFields {
  readonly sender: string;
  readonly channel: string;
  readonly epoch: number;
  readonly seq: number;
  readonly timestamp: number;
  readonly ciphertext: Uint8Array;
  /** Every byte before the ciphertext's length. */
  readonly header: Uint8Array;
}

/** A group envelope split into its fields (views into the input). Decoding proves nothing. */
export interface GroupFields extends GroupBodyFields {
  readonly signature: Uint8Array;
}

/** Reads sender, channel, epoch, sequence number, timestamp and ciphertext (bounded), after the header. */
export function readGroupBody(r: ByteReader, what: string, maxPayloadBytes: number): GroupBodyFields {
  const sender = readSubject(r, `${what} sender`);
  const channel = readFilter(r, `${what} channel`);
  const epoch = r.u32(`${what} epoch`);
  const seq = r.u64(`${what} sequence number`);
  const timestamp = r.u64(`${what} timestamp`);
  const header = r.consumed();
  const ciphertext = r.bytes32(maxPayloadBytes + AES_TAG_BYTES, `${what} ciphertext`);
  if (ciphertext.length < AES_TAG_BYTES) malformed(`${what} ciphertext: ${ciphertext.length} bytes, shorter than the tag`);
  return { sender, channel, epoch, seq, timestamp, ciphertext, header };
}

/**
 * Parses a group envelope (no cryptography, no policy).
 * @throws SecurityError TOO_LARGE, MALFORMED or UNSUPPORTED_VERSION.
 */
export function decodeGroup(bytes: Uint8Array, maxPayloadBytes: number = DEFAULT_MAX_PAYLOAD_BYTES): GroupFields {
  const what = 'group envelope';
  boundInput(bytes, maxGroupBytes(maxPayloadBytes), what);
  const r = new ByteReader(bytes);
  readHeader(r, ENVELOPE_TYPE.group, what);
  const body = readGroupBody(r, what, maxPayloadBytes);
  const signature = r.bytes16(MAX_SIGNATURE_BYTES, `${what} signature`);
  if (signature.length === 0) malformed(`${what} signature: empty`);
  r.end(what);
  return { ...body, signature };
}


function groupAad(header: Uint8Array, topic: Uint8Array): Uint8Array {
  return signedMessage(header, topic);
}

function groupTbs(header: Uint8Array, topic: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const ct = new ByteWriter(ciphertext.length + 4).bytes32(ciphertext).finish();
  return signedMessage(LABELS.groupSignature, header, topic, ct);
}

/** A Falcon-512 signature of `message` by the sender, made elsewhere (a signing worker: WorkerSigner.sign). */
export type AsyncSigner = (message: Uint8Array) => Promise<Uint8Array>;

export interface SealGroupOptions {
  readonly sender: Identity;
  /** The epoch's keys (deriveGroupKeys with the sender's id, the channel and the epoch). */
  readonly keys: GroupEpochKeys;
  /** The concrete topic the message is published on; it must match the channel. */
  readonly topic: string;
  readonly payload: Uint8Array;
  /** Unique per (sender, channel) for ever (SequenceAllocator): the nonce comes from it. */
  readonly seq: number;
  readonly now: number;
  /** Known-answer vectors only: the Falcon signing seed comes from it. */
  readonly random?: RandomSource;
  readonly maxPayloadBytes?: number;
  /** Signs instead of sender.sign (ignored with `random`). */
  readonly sign?: AsyncSigner;
}

/**
 * The checks every group seal (signed, or amortised: protocol/amortised/envelope.ts) makes before any work: the
 * keys are the sender's, the topic is valid and inside the keys' channel, the payload is bytes within its bound,
 * seq and now are safe integers. Returns the payload.
 */
export function checkGroupSeal(
  keys: GroupEpochKeys,
  sender: string,
  opts: { readonly topic: string; readonly payload: Uint8Array; readonly seq: number; readonly now: number; readonly maxPayloadBytes?: number },
): Uint8Array {
  if (keys.sender !== sender) throw new RangeError(`keys belong to ${keys.sender}, not ${sender}`);
  checkTopicArg(opts.topic);
  if (!topicMatches(keys.channel, opts.topic)) throw new RangeError(`topic ${opts.topic} is outside channel ${keys.channel}`);
  const payload = abytesMax(opts.payload, opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, 'payload');
  auint(opts.seq, 'seq');
  auint(opts.now, 'now');
  return payload;
}

/**
 * Encrypts `payload` under the epoch's key and signs it.
 * @throws TypeError/RangeError for invalid arguments (a topic outside the channel is a RangeError).
 */
export async function sealGroup(opts: SealGroupOptions): Promise<Uint8Array> {
  checkGroupSeal(opts.keys, opts.sender.id, opts);
  return sealGroupUnchecked(opts);
}

/**
 * sealGroup without its argument checks, for a caller that made them (the key
 * manager checks topic and payload at its entry; keys, seq and now are its own).
 */
export async function sealGroupUnchecked(opts: SealGroupOptions): Promise<Uint8Array> {
  const { sender, keys, payload } = opts;

  const header = writeHeader(new ByteWriter(64 + keys.channel.length * 3), ENVELOPE_TYPE.group)
    .string16(sender.id)
    .string16(keys.channel)
    .u32(keys.epoch)
    .u64(opts.seq)
    .u64(opts.now)
    .finish();
  const topic = topicField(opts.topic);
  const nonce = groupNonce(keys.iv, opts.seq);
  // Drawn before the await: seals started back to back draw in the order they started (deterministic test runs).
  const signSeed = opts.random?.(falcon512.lengths.signSeed);
  try {
    const ciphertext = await aesGcmSeal(keys.key, nonce, payload, groupAad(header, topic));
    const tbs = groupTbs(header, topic, ciphertext);
    const signature = opts.sign !== undefined && signSeed === undefined ? await opts.sign(tbs) : sender.sign(tbs, signSeed);
    return new ByteWriter(header.length + 6 + ciphertext.length + signature.length)
      .fixed(header, header.length, 'header')
      .bytes32(ciphertext)
      .bytes16(signature)
      .finish();
  } finally {
    signSeed?.fill(0);
  }
}

/** What the epoch lookup says about (sender, channel, epoch) for this message. */
export type EpochLookup =
  | { readonly ok: true; readonly keys: GroupEpochKeys }
  | { readonly ok: false; readonly code: 'UNKNOWN_EPOCH' | 'STALE_EPOCH' | 'REPLAY'; readonly detail?: string };

/** Identifies an authentic message whose epoch key we do not hold (yet). */
export interface UnknownEpochInfo {
  readonly sender: string;
  readonly senderKeyEpoch: number;
  readonly channel: string;
  readonly epoch: number;
  readonly seq: number;
  readonly timestamp: number;
}

export interface OpenGroupOptions {
  readonly receivedTopic: string;
  readonly trust: CertificateSource;
  readonly now: number;
  /** Time and sequence policy: the live ReplayGuard, or the retained-message session (key-manager.ts). */
  readonly replay: ReplayCheck;
  /** The keys of (sender, channel, epoch), or why there are none. */
  readonly lookup: (sender: string, senderKeyEpoch: number, channel: string, epoch: number, seq: number, timestamp: number) => EpochLookup;
  /**
   * Called (before UNKNOWN_EPOCH is thrown) only if the message passed every
   * other check and its signature verifies: a forged message never triggers it.
   */
  readonly onUnknownEpoch?: (info: UnknownEpochInfo) => void;
  readonly maxPayloadBytes?: number;
}

/** A verified, decrypted group message. */
export interface GroupMessage {
  readonly sender: string;
  readonly senderCertificate: Certificate;
  readonly channel: string;
  readonly epoch: number;
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly seq: number;
  readonly timestamp: number;
}

/**
 * Verifies and decrypts a group envelope received on `receivedTopic`. Check
 * order: bound, parse, version/suite, topic within the channel
 * (TOPIC_MISMATCH), sender certificate, channel is one of the sender's
 * publish filters and the topic is granted (NOT_AUTHORISED), epoch key
 * (UNKNOWN_EPOCH/STALE_EPOCH), time and replay (pure), signature, decryption,
 * then the replay state records the sequence number.
 *
 * @throws SecurityError with the code of the first failed check; nothing changes then.
 */
export async function openGroup(bytes: Uint8Array, opts: OpenGroupOptions): Promise<GroupMessage> {
  const { now } = opts;
  checkTopicArg(opts.receivedTopic, 'receivedTopic');
  const f = decodeGroup(bytes, opts.maxPayloadBytes);
  const topic = opts.receivedTopic;
  if (!topicMatches(f.channel, topic)) {
    throw new SecurityError('TOPIC_MISMATCH', { sender: f.sender, topic, detail: `channel ${f.channel} does not match the topic` });
  }
  const cert = opts.trust.get(f.sender, now);
  if (!cert.publish.includes(f.channel) || !mayPublish(cert, topic)) {
    throw new SecurityError('NOT_AUTHORISED', { sender: f.sender, topic, detail: `${f.channel} is not a publish right of the sender` });
  }
  const stream = groupStream(f.sender, cert.keyEpoch, f.channel, f.epoch);
  const topicBytes = topicField(topic);
  const found = opts.lookup(f.sender, cert.keyEpoch, f.channel, f.epoch, f.seq, f.timestamp);
  if (!found.ok) {
    if (found.code === 'UNKNOWN_EPOCH') {
      const verdict = opts.replay.check(stream, f.seq, f.timestamp);
      const genuine = (): boolean => verifyFalcon512(f.signature, groupTbs(f.header, topicBytes, f.ciphertext), cert.publicKeys.falcon);
      // An authentic copy of a message already accepted is a DUPLICATE with or without the key: a QoS 1
      // redelivery to a subscriber that restarted (epoch keys live in memory, the replay window in storage).
      if (!verdict.ok && verdict.code === 'DUPLICATE') replayFailure(verdict, f.sender, topic, genuine);
      // Tell the caller a key is needed only for a message that is fresh and genuine.
      if (opts.onUnknownEpoch && verdict.ok && genuine()) {
        opts.onUnknownEpoch({ sender: f.sender, senderKeyEpoch: cert.keyEpoch, channel: f.channel, epoch: f.epoch, seq: f.seq, timestamp: f.timestamp });
      }
    }
    throw new SecurityError(found.code, { sender: f.sender, topic, detail: found.detail ?? `epoch ${f.epoch} of ${f.channel}` });
  }
  const { keys } = found;
  if (keys.sender !== f.sender || keys.channel !== f.channel || keys.epoch !== f.epoch) {
    throw new Error('epoch lookup returned the keys of another epoch'); // a bug in the caller, never input
  }
  const authentic = (): boolean => verifyFalcon512(f.signature, groupTbs(f.header, topicBytes, f.ciphertext), cert.publicKeys.falcon);
  replayFailure(opts.replay.check(stream, f.seq, f.timestamp), f.sender, topic, authentic);
  if (!authentic()) {
    throw new SecurityError('BAD_SIGNATURE', { sender: f.sender, topic });
  }
  const payload = await aesGcmOpen(keys.key, groupNonce(keys.iv, f.seq), f.ciphertext, groupAad(f.header, topicBytes));
  try {
    await opts.replay.accept(stream, f.seq, f.timestamp);
  } catch (err) {
    payload.fill(0);
    throw err;
  }
  return Object.freeze(groupMessage(f, cert, topic, payload));
}

/** A delivered group message's fields (a signed envelope here, an amortised one in amortised-manager.ts). */
export function groupMessage(
  f: { readonly sender: string; readonly channel: string; readonly epoch: number; readonly seq: number; readonly timestamp: number },
  cert: Certificate,
  topic: string,
  payload: Uint8Array,
): GroupMessage {
  return { sender: f.sender, senderCertificate: cert, channel: f.channel, epoch: f.epoch, topic, payload, seq: f.seq, timestamp: f.timestamp };
}

/** True if both key sets are for the same epoch with the same nonce base (used to detect a re-used epoch number). */
export function sameEpochKeys(a: GroupEpochKeys, b: GroupEpochKeys): boolean {
  return a.sender === b.sender && a.channel === b.channel && a.epoch === b.epoch && equalBytes(a.iv, b.iv);
}
