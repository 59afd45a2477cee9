// Direct envelopes: one sender, one recipient (commands, key grants).
// Layout, key derivation and check order: docs/PROTOCOL.md, "Direct envelope".
//
//   header(type D|G, version, suite, flags) | sender | recipient | recipient key epoch | topic
//   | timestamp | seq | X25519 ephemeral pk | ML-KEM-768 ct | AES-256-GCM ct | Falcon-512 signature
//
// The AEAD's associated data is every byte before the AEAD ciphertext; the
// signature covers label || every byte before the signature.

import { abytesMax, auint } from '../../bindings/assert-sdk.js';
import { validateSubjectId } from '../wire/subject-id.js';
import { falcon512 } from '../../bindings/index.js';
import { mayPublish, type Certificate } from '../certs/certificate.js';
import { hybridDecapsulate, hybridEncapsulate, HYBRID_LENGTHS } from '../crypto/hybrid-kem.js';
import type { RandomSource } from '../crypto/random.js';
import { AES_KEY_BYTES, AES_NONCE_BYTES, AES_TAG_BYTES, aesGcmOpen, aesGcmSeal, hkdf, importAesKey } from '../crypto/webcrypto.js';
import { SecurityError } from '../errors.js';
import type { Identity } from '../identity/identity.js';
import { equalBytes } from '../wire/bytes.js';
import { ByteReader, ByteWriter, boundInput } from '../wire/codec.js';
import { malformed, readSubject, readTopicName } from '../wire/fields.js';
import { LABELS, signedMessage } from '../wire/labels.js';
import { MAX_SUBJECT_BYTES } from '../wire/subject-id.js';
import { directStream } from './streams.js';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  ENVELOPE_TYPE,
  MAX_ENVELOPE_TOPIC_BYTES,
  MAX_SIGNATURE_BYTES,
  checkTopicArg,
  readHeader,
  replayFailure,
  writeHeader,
  type CertificateSource,
  type ReplayCheck,
} from './envelope.js';
import { verifyFalcon512 } from '../crypto/falcon-verify.js';

/** The two envelope types with this layout. */
export type DirectType = typeof ENVELOPE_TYPE.direct | typeof ENVELOPE_TYPE.grant;

const SIGNATURE_LABEL: Readonly<Record<DirectType, Uint8Array>> = Object.freeze({
  [ENVELOPE_TYPE.direct]: LABELS.directSignature,
  [ENVELOPE_TYPE.grant]: LABELS.grant,
});

/** Bytes of everything but the payload, the ids and the topic (and the signature's variable length). */
const FIXED_BYTES =
  4 + 2 + 2 + 4 + 2 + 8 + 8 + HYBRID_LENGTHS.x25519Ciphertext + HYBRID_LENGTHS.mlKemCiphertext + 4 + AES_TAG_BYTES + 2;

/** The largest direct envelope carrying at most `maxPayloadBytes`. */
export function maxDirectBytes(maxPayloadBytes: number = DEFAULT_MAX_PAYLOAD_BYTES): number {
  return FIXED_BYTES + 2 * MAX_SUBJECT_BYTES + MAX_ENVELOPE_TOPIC_BYTES + maxPayloadBytes + MAX_SIGNATURE_BYTES;
}

/** A direct envelope split into its fields (views into the input). Decoding proves nothing. */
export interface DirectFields {
  readonly type: DirectType;
  readonly sender: string;
  readonly recipient: string;
  readonly recipientKeyEpoch: number;
  readonly topic: string;
  readonly timestamp: number;
  readonly seq: number;
  readonly x25519Ciphertext: Uint8Array;
  readonly mlKemCiphertext: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly signature: Uint8Array;
  /** Associated data of the AEAD: every byte before the AEAD ciphertext's length. */
  readonly aad: Uint8Array;
  /** What the signature covers after the label: every byte before the signature's length. */
  readonly signed: Uint8Array;
}

/**
 * Parses a direct envelope of `type` (no cryptography, no policy).
 * @throws SecurityError TOO_LARGE, MALFORMED or UNSUPPORTED_VERSION.
 */
export function decodeDirect(bytes: Uint8Array, type: DirectType, maxPayloadBytes: number = DEFAULT_MAX_PAYLOAD_BYTES): DirectFields {
  const what = type === ENVELOPE_TYPE.grant ? 'key grant' : 'direct envelope';
  boundInput(bytes, maxDirectBytes(maxPayloadBytes), what);
  const r = new ByteReader(bytes);
  readHeader(r, type, what);
  const sender = readSubject(r, `${what} sender`);
  const recipient = readSubject(r, `${what} recipient`);
  const recipientKeyEpoch = r.u32(`${what} recipient key epoch`);
  const topic = readTopicName(r, `${what} topic`);
  const timestamp = r.u64(`${what} timestamp`);
  const seq = r.u64(`${what} sequence number`);
  const x25519Ciphertext = r.fixed(HYBRID_LENGTHS.x25519Ciphertext, `${what} X25519 ciphertext`);
  const mlKemCiphertext = r.fixed(HYBRID_LENGTHS.mlKemCiphertext, `${what} ML-KEM ciphertext`);
  const aad = r.consumed();
  const ciphertext = r.bytes32(maxPayloadBytes + AES_TAG_BYTES, `${what} ciphertext`);
  if (ciphertext.length < AES_TAG_BYTES) malformed(`${what} ciphertext: ${ciphertext.length} bytes, shorter than the tag`);
  const signed = r.consumed();
  const signature = r.bytes16(MAX_SIGNATURE_BYTES, `${what} signature`);
  if (signature.length === 0) malformed(`${what} signature: empty`);
  r.end(what);
  return { type, sender, recipient, recipientKeyEpoch, topic, timestamp, seq, x25519Ciphertext, mlKemCiphertext, ciphertext, signature, aad, signed };
}

/** AES-256-GCM key and nonce of one envelope: HKDF(ss, salt = empty, info = LABELS.directKdf || type, 44). */
async function envelopeKey(sharedSecret: Uint8Array, type: DirectType): Promise<{ key: CryptoKey; nonce: Uint8Array }> {
  const info = new Uint8Array(LABELS.directKdf.length + 1);
  info.set(LABELS.directKdf);
  info[LABELS.directKdf.length] = type;
  const okm = await hkdf(sharedSecret, new Uint8Array(0), info, AES_KEY_BYTES + AES_NONCE_BYTES);
  try {
    return { key: await importAesKey(okm.subarray(0, AES_KEY_BYTES)), nonce: okm.slice(AES_KEY_BYTES) };
  } finally {
    okm.fill(0); // the raw AES key
  }
}

export interface SealDirectOptions {
  readonly sender: Identity;
  /** The sender's own certificate: when given, it must match the identity and grant publishing on `topic`. */
  readonly senderCert?: Certificate;
  readonly recipient: Certificate;
  readonly topic: string;
  readonly payload: Uint8Array;
  /** Unique per (sender, recipient) for ever: use a SequenceAllocator. */
  readonly seq: number;
  /** Milliseconds since the Unix epoch. */
  readonly now: number;
  /** Known-answer vectors only: the X25519 ephemeral key, ML-KEM seed and Falcon signing seed come from it. */
  readonly random?: RandomSource;
  readonly maxPayloadBytes?: number;
}

/** @internal sealDirect for either type (grant.ts seals grants with it). */
export async function sealDirectEnvelope(type: DirectType, opts: SealDirectOptions): Promise<Uint8Array> {
  const { sender, recipient, senderCert } = opts;
  validateSubjectId(sender.id, 'sender id');
  validateSubjectId(recipient.subject, 'recipient subject');
  checkTopicArg(opts.topic);
  const payload = abytesMax(opts.payload, opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, 'payload');
  auint(opts.seq, 'seq');
  auint(opts.now, 'now');
  if (senderCert) {
    if (senderCert.subject !== sender.id || !equalBytes(senderCert.publicKeys.falcon, sender.publicKeys.falcon)) {
      throw new RangeError(`senderCert is not the certificate of identity ${sender.id}`);
    }
    if (type === ENVELOPE_TYPE.direct && !mayPublish(senderCert, opts.topic)) {
      throw new SecurityError('NOT_AUTHORISED', { topic: opts.topic, sender: sender.id, detail: 'the sender may not publish on this topic' });
    }
  }

  const kem = await hybridEncapsulate(recipient.publicKeys, opts.random);
  let header: Uint8Array | undefined;
  try {
    const w = writeHeader(new ByteWriter(FIXED_BYTES + 512 + HYBRID_LENGTHS.mlKemCiphertext), type)
      .string16(sender.id)
      .string16(recipient.subject)
      .u32(recipient.keyEpoch)
      .string16(opts.topic)
      .u64(opts.now)
      .u64(opts.seq)
      .fixed(kem.x25519Ciphertext, HYBRID_LENGTHS.x25519Ciphertext, 'X25519 ciphertext')
      .fixed(kem.mlKemCiphertext, HYBRID_LENGTHS.mlKemCiphertext, 'ML-KEM ciphertext');
    header = w.finish();
    const { key, nonce } = await envelopeKey(kem.sharedSecret, type);
    const ciphertext = await aesGcmSeal(key, nonce, payload, header);
    const body = new ByteWriter(header.length + 4 + ciphertext.length).fixed(header, header.length, 'header').bytes32(ciphertext).finish();
    const signSeed = opts.random?.(falcon512.lengths.signSeed);
    try {
      const signature = sender.sign(signedMessage(SIGNATURE_LABEL[type], body), signSeed);
      return new ByteWriter(body.length + 2 + signature.length).fixed(body, body.length, 'body').bytes16(signature).finish();
    } finally {
      signSeed?.fill(0); // determines the signature's secret randomness
    }
  } finally {
    kem.sharedSecret.fill(0); // the envelope's key material
  }
}

/**
 * Seals `payload` for one recipient: hybrid KEM to the recipient's
 * certificate keys, AES-256-GCM, Falcon-512 signature by the sender.
 *
 * @throws TypeError/RangeError for invalid arguments; SecurityError NOT_AUTHORISED
 *   if `senderCert` is given and does not grant the topic.
 * @example const bytes = await sealDirect({ sender: hmi, recipient: plcCert, topic: 'plant/cmd/plc-7',
 *   payload, seq: await seqs.next(), now: Date.now() });
 */
export function sealDirect(opts: SealDirectOptions): Promise<Uint8Array> {
  return sealDirectEnvelope(ENVELOPE_TYPE.direct, opts);
}

export interface OpenDirectOptions {
  readonly recipient: Identity;
  /** The key epoch of the recipient's current certificate; an envelope sealed to another one is WRONG_RECIPIENT. */
  readonly recipientKeyEpoch?: number;
  /** The topic the message arrived on. */
  readonly receivedTopic: string;
  readonly trust: CertificateSource;
  readonly now: number;
  readonly replay: ReplayCheck;
  readonly maxPayloadBytes?: number;
}

/** A verified, decrypted direct envelope. */
export interface DirectMessage {
  readonly sender: string;
  readonly senderCertificate: Certificate;
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly seq: number;
  readonly timestamp: number;
}

/**
 * @internal openDirect for either type. `inspect` runs on the authenticated
 * plaintext before the replay state changes: if it throws, nothing changes.
 */
export async function openDirectEnvelope<T>(
  bytes: Uint8Array,
  type: DirectType,
  opts: OpenDirectOptions,
  inspect: (plaintext: Uint8Array, senderCert: Certificate, fields: DirectFields) => Promise<T> | T,
): Promise<{ message: DirectMessage; inspected: T }> {
  const { recipient, now } = opts;
  checkTopicArg(opts.receivedTopic, 'receivedTopic');
  // 1-2: bound, header (version, suite, flags), every field.
  const f = decodeDirect(bytes, type, opts.maxPayloadBytes);
  // 3: addressed to me, under my current keys.
  if (f.recipient !== recipient.id || (opts.recipientKeyEpoch !== undefined && f.recipientKeyEpoch !== opts.recipientKeyEpoch)) {
    throw new SecurityError('WRONG_RECIPIENT', {
      sender: f.sender,
      topic: opts.receivedTopic,
      detail: `addressed to ${f.recipient} (key epoch ${f.recipientKeyEpoch})`,
    });
  }
  // 4: sealed for the topic it arrived on.
  if (f.topic !== opts.receivedTopic) {
    throw new SecurityError('TOPIC_MISMATCH', { sender: f.sender, topic: opts.receivedTopic, detail: `sealed for topic ${f.topic}` });
  }
  // 5: the sender's certificate (UNKNOWN_SENDER, REVOKED, EXPIRED).
  const cert = opts.trust.get(f.sender, now);
  // 6: the sender's right to publish there (grants are authorised by their channel, after decryption).
  if (type === ENVELOPE_TYPE.direct && !mayPublish(cert, f.topic)) {
    throw new SecurityError('NOT_AUTHORISED', { sender: f.sender, topic: f.topic, detail: 'the sender may not publish on this topic' });
  }
  // 7-8: time and replay, without changing anything.
  const stream = directStream(f.sender, cert.keyEpoch);
  const authentic = (): boolean => verifyFalcon512(f.signature, signedMessage(SIGNATURE_LABEL[type], f.signed), cert.publicKeys.falcon);
  replayFailure(opts.replay.check(stream, f.seq, f.timestamp), f.sender, f.topic, authentic);
  // 9: the signature.
  if (!authentic()) {
    throw new SecurityError('BAD_SIGNATURE', { sender: f.sender, topic: f.topic });
  }
  // 10: decryption.
  const ss = await hybridDecapsulate(f.x25519Ciphertext, f.mlKemCiphertext, {
    mlKemSecretKey: recipient.mlKem.secretKey,
    x25519PrivateKey: recipient.x25519.privateKey,
    x25519PublicKey: recipient.publicKeys.x25519,
  });
  let payload: Uint8Array;
  try {
    const { key, nonce } = await envelopeKey(ss, type);
    payload = await aesGcmOpen(key, nonce, f.ciphertext, f.aad);
  } finally {
    ss.fill(0);
  }
  let inspected: T;
  try {
    inspected = await inspect(payload, cert, f);
  } catch (err) {
    payload.fill(0);
    throw err;
  }
  // 11: only now does the replay state move.
  await opts.replay.accept(stream, f.seq, f.timestamp);
  return {
    message: Object.freeze({ sender: f.sender, senderCertificate: cert, topic: f.topic, payload, seq: f.seq, timestamp: f.timestamp }),
    inspected,
  };
}

/**
 * Verifies and decrypts a direct envelope addressed to `recipient`, in the
 * order of docs/PROTOCOL.md: bound, parse, version/suite, recipient, topic,
 * sender certificate, publish right, time and replay (pure), signature,
 * decryption, then the replay window records the sequence number.
 *
 * @throws SecurityError with the code of the first failed check; nothing changes then.
 */
export async function openDirect(bytes: Uint8Array, opts: OpenDirectOptions): Promise<DirectMessage> {
  return (await openDirectEnvelope(bytes, ENVELOPE_TYPE.direct, opts, () => undefined)).message;
}
