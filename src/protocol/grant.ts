// Key grants (a publisher hands a subscriber a channel's epoch key inside a
// direct envelope of type 'G') and key requests (a subscriber asks a
// publisher for it). Layouts and checks: docs/PROTOCOL.md, "Key grant" and
// "Key request".

import { aint } from '../../bindings/assert-sdk.js';
import { validateSubjectId } from '../wire/subject-id.js';
import { falcon512 } from '../../bindings/index.js';
import { maySubscribe, type Certificate } from '../certs/certificate.js';
import type { RandomSource } from '../crypto/random.js';
import { systemRandom } from '../crypto/random.js';
import { SecurityError } from '../errors.js';
import type { Identity } from '../identity/identity.js';
import { ByteReader, ByteWriter, boundInput } from '../wire/codec.js';
import { malformed, readFilter, readSubject } from '../wire/fields.js';
import { LABELS, signedMessage } from '../wire/labels.js';
import { MAX_SUBJECT_BYTES } from '../wire/subject-id.js';
import { openDirectEnvelope, sealDirectEnvelope, type DirectMessage, type OpenDirectOptions } from './direct.js';
import { EPOCH_KEY_BYTES, MAX_EPOCH } from './group.js';
import {
  ENVELOPE_TYPE,
  MAX_CHANNEL_BYTES,
  MAX_SIGNATURE_BYTES,
  checkFilterArg,
  readHeader,
  writeHeader,
  type CertificateSource,
} from './envelope.js';
import { verifyFalcon512 } from '../crypto/falcon-verify.js';

// ---------------------------------------------------------------- grant payload

/** What a grant tells a subscriber about one epoch of one publisher's channel. */
export interface GrantPayload {
  /** A publish filter of the granting publisher. */
  readonly channel: string;
  readonly epoch: number;
  /** 32 bytes; a secret: the receiver wipes it once derived. */
  readonly epochKey: Uint8Array;
  /** The epoch's first sequence number: lower ones never belong to it. */
  readonly firstSeq: number;
  /** Milliseconds since the Unix epoch: the epoch's messages are not timestamped later than this. */
  readonly notAfter: number;
}

export const MAX_GRANT_PAYLOAD_BYTES = 2 + MAX_CHANNEL_BYTES + 4 + EPOCH_KEY_BYTES + 8 + 8;

/** channel string16 | epoch u32 | epoch key 32 | first seq u64 | not after u64. */
export function encodeGrantPayload(g: GrantPayload): Uint8Array {
  checkFilterArg(g.channel);
  aint(g.epoch, 0, MAX_EPOCH, 'epoch');
  aint(g.firstSeq, 0, Number.MAX_SAFE_INTEGER, 'firstSeq');
  aint(g.notAfter, 0, Number.MAX_SAFE_INTEGER, 'notAfter');
  return new ByteWriter(MAX_GRANT_PAYLOAD_BYTES)
    .string16(g.channel)
    .u32(g.epoch)
    .fixed(g.epochKey, EPOCH_KEY_BYTES, 'epoch key')
    .u64(g.firstSeq)
    .u64(g.notAfter)
    .finish(); // wipes the writer's copy of the key
}

/** @throws SecurityError TOO_LARGE or MALFORMED. The returned epochKey is a copy the caller wipes. */
export function decodeGrantPayload(bytes: Uint8Array): GrantPayload {
  boundInput(bytes, MAX_GRANT_PAYLOAD_BYTES, 'grant payload');
  const r = new ByteReader(bytes);
  const channel = readFilter(r, 'grant channel');
  const epoch = r.u32('grant epoch');
  const epochKey = r.fixed(EPOCH_KEY_BYTES, 'grant epoch key').slice();
  try {
    const firstSeq = r.u64('grant first sequence number');
    const notAfter = r.u64('grant not-after');
    r.end('grant payload');
    return { channel, epoch, epochKey, firstSeq, notAfter };
  } catch (err) {
    epochKey.fill(0);
    throw err;
  }
}

// ---------------------------------------------------------------- grant envelope

export interface SealGrantOptions {
  readonly publisher: Identity;
  readonly subscriber: Certificate;
  /** The topic the grant is published on (the client's choice, e.g. topics.grant(subscriber)). */
  readonly topic: string;
  readonly grant: GrantPayload;
  /** The publisher's direct sequence number (unique per publisher for ever). */
  readonly seq: number;
  readonly now: number;
  readonly random?: RandomSource;
}

/** A direct envelope of type 'G' whose plaintext is the grant payload. */
export async function sealGrant(opts: SealGrantOptions): Promise<Uint8Array> {
  const payload = encodeGrantPayload(opts.grant);
  try {
    return await sealDirectEnvelope(ENVELOPE_TYPE.grant, {
      sender: opts.publisher,
      recipient: opts.subscriber,
      topic: opts.topic,
      payload,
      seq: opts.seq,
      now: opts.now,
      ...(opts.random ? { random: opts.random } : {}),
    });
  } finally {
    payload.fill(0); // holds the epoch key
  }
}

export interface OpenedGrant {
  readonly message: DirectMessage;
  readonly grant: GrantPayload;
}

/**
 * Opens a grant with the direct envelope's checks (the publish right on the
 * grant's own topic is not required: a grant is authorised by its channel),
 * then, before the replay state moves: the payload parses (MALFORMED), the
 * channel is one of the sender's publish filters (NOT_AUTHORISED), and
 * `check` (the key manager's epoch rules) passes.
 */
export async function openGrant(
  bytes: Uint8Array,
  opts: OpenDirectOptions,
  check: (grant: GrantPayload, senderCert: Certificate) => Promise<void> | void = () => undefined,
): Promise<OpenedGrant> {
  const { message, inspected } = await openDirectEnvelope(bytes, ENVELOPE_TYPE.grant, opts, async (plaintext, cert) => {
    let grant: GrantPayload;
    try {
      grant = decodeGrantPayload(plaintext);
    } finally {
      plaintext.fill(0);
    }
    try {
      if (!cert.publish.includes(grant.channel)) {
        throw new SecurityError('NOT_AUTHORISED', { sender: cert.subject, detail: `grant for ${grant.channel}, not a publish right of the sender` });
      }
      await check(grant, cert);
      return grant;
    } catch (err) {
      grant.epochKey.fill(0);
      throw err;
    }
  });
  return { message, grant: inspected };
}

// ---------------------------------------------------------------- key request

export const KEY_REQUEST_NONCE_BYTES = 16;

const KEY_REQUEST_FIXED = 4 + 2 + 2 + 2 + 8 + KEY_REQUEST_NONCE_BYTES + 2;
export const MAX_KEY_REQUEST_BYTES = KEY_REQUEST_FIXED + 2 * MAX_SUBJECT_BYTES + MAX_CHANNEL_BYTES + MAX_SIGNATURE_BYTES;

export interface KeyRequestFields {
  readonly subscriber: string;
  readonly publisher: string;
  /** The filter the subscriber subscribed with (or a channel from a message header). */
  readonly filter: string;
  readonly timestamp: number;
  readonly nonce: Uint8Array;
  readonly signature: Uint8Array;
  /** Every byte before the signature's length. */
  readonly signed: Uint8Array;
}

/**
 * header(type Q) | subscriber string16 | publisher string16 | filter string16 | timestamp u64
 * | nonce 16 | signature bytes16. Parses only.
 * @throws SecurityError TOO_LARGE, MALFORMED or UNSUPPORTED_VERSION.
 */
export function decodeKeyRequest(bytes: Uint8Array): KeyRequestFields {
  const what = 'key request';
  boundInput(bytes, MAX_KEY_REQUEST_BYTES, what);
  const r = new ByteReader(bytes);
  readHeader(r, ENVELOPE_TYPE.keyRequest, what);
  const subscriber = readSubject(r, `${what} subscriber`);
  const publisher = readSubject(r, `${what} publisher`);
  const filter = readFilter(r, `${what} filter`);
  const timestamp = r.u64(`${what} timestamp`);
  const nonce = r.fixed(KEY_REQUEST_NONCE_BYTES, `${what} nonce`);
  const signed = r.consumed();
  const signature = r.bytes16(MAX_SIGNATURE_BYTES, `${what} signature`);
  if (signature.length === 0) malformed(`${what} signature: empty`);
  r.end(what);
  return { subscriber, publisher, filter, timestamp, nonce, signature, signed };
}

export interface SealKeyRequestOptions {
  readonly subscriber: Identity;
  readonly publisher: string;
  readonly filter: string;
  readonly now: number;
  /** Nonce and Falcon signing seed; default the platform CSPRNG (nonce) and the core's randomness (signature). */
  readonly random?: RandomSource;
}

/** A signed key request (synchronous: no WebCrypto involved). */
export function sealKeyRequest(opts: SealKeyRequestOptions): Uint8Array {
  validateSubjectId(opts.subscriber.id, 'subscriber id');
  validateSubjectId(opts.publisher, 'publisher');
  checkFilterArg(opts.filter, 'filter');
  aint(opts.now, 0, Number.MAX_SAFE_INTEGER, 'now');
  const nonce = (opts.random ?? systemRandom)(KEY_REQUEST_NONCE_BYTES);
  const body = writeHeader(new ByteWriter(KEY_REQUEST_FIXED + 300), ENVELOPE_TYPE.keyRequest)
    .string16(opts.subscriber.id)
    .string16(opts.publisher)
    .string16(opts.filter)
    .u64(opts.now)
    .fixed(nonce, KEY_REQUEST_NONCE_BYTES, 'nonce')
    .finish();
  const signSeed = opts.random?.(falcon512.lengths.signSeed);
  try {
    const signature = opts.subscriber.sign(signedMessage(LABELS.keyRequest, body), signSeed);
    return new ByteWriter(body.length + 2 + signature.length).fixed(body, body.length, 'body').bytes16(signature).finish();
  } finally {
    signSeed?.fill(0);
  }
}

/**
 * Remembers key request nonces until they are too old to pass the time check anyway. It lives in memory
 * only: a cache made at `sinceMs` (a publisher's start) cannot know the nonces an earlier process saw, so
 * openKeyRequest refuses requests timestamped before `sinceMs - clockSkewMs` (TOO_OLD, the restart rule).
 */
export class NonceCache {
  readonly #seen = new Map<string, number>();
  readonly #max: number;
  /** Since when every nonce accepted is remembered (-Infinity: no restart rule). */
  readonly sinceMs: number;

  /** @param sinceMs when this cache started remembering (a KeyManager passes its opening time); default: no restart rule. */
  constructor(maxEntries = 10_000, sinceMs = -Infinity) {
    this.#max = maxEntries;
    this.sinceMs = sinceMs;
  }

  #id(sender: string, nonce: Uint8Array): string {
    return `${sender}\n${Array.from(nonce, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  }

  has(sender: string, nonce: Uint8Array, now: number): boolean {
    const expires = this.#seen.get(this.#id(sender, nonce));
    return expires !== undefined && expires >= now;
  }

  add(sender: string, nonce: Uint8Array, expiresAt: number, now: number): void {
    if (this.#seen.size >= this.#max) {
      for (const [id, expires] of this.#seen) if (expires < now) this.#seen.delete(id);
      // Still full: forget the oldest (a replayed request only costs the publisher a grant to its rightful owner).
      while (this.#seen.size >= this.#max) this.#seen.delete(this.#seen.keys().next().value as string);
    }
    this.#seen.set(this.#id(sender, nonce), expiresAt);
  }
}

export interface OpenKeyRequestOptions {
  /** My id: a request for another publisher is WRONG_RECIPIENT. */
  readonly publisher: string;
  readonly trust: CertificateSource;
  readonly now: number;
  readonly maxAgeMs: number;
  readonly clockSkewMs: number;
  readonly nonces: NonceCache;
}

export interface KeyRequest {
  readonly subscriber: string;
  readonly subscriberCertificate: Certificate;
  readonly filter: string;
  readonly timestamp: number;
}

/**
 * Verifies a key request. Order: bound, parse, version/suite, publisher is me
 * (WRONG_RECIPIENT), subscriber certificate (UNKNOWN_SENDER/REVOKED/EXPIRED),
 * subscribe right on the filter (NOT_AUTHORISED), time (TOO_OLD/FROM_FUTURE; TOO_OLD also before the
 * nonce cache's sinceMs minus clockSkewMs),
 * nonce seen (DUPLICATE if the signature verifies, else BAD_SIGNATURE), signature (BAD_SIGNATURE), then the nonce is remembered.
 */
export function openKeyRequest(bytes: Uint8Array, opts: OpenKeyRequestOptions): KeyRequest {
  const { now } = opts;
  const f = decodeKeyRequest(bytes);
  if (f.publisher !== opts.publisher) {
    throw new SecurityError('WRONG_RECIPIENT', { sender: f.subscriber, detail: `key request for ${f.publisher}` });
  }
  const cert = opts.trust.get(f.subscriber, now);
  if (!maySubscribe(cert, f.filter)) {
    throw new SecurityError('NOT_AUTHORISED', { sender: f.subscriber, detail: `may not subscribe to ${f.filter}` });
  }
  if (f.timestamp > now + opts.clockSkewMs) throw new SecurityError('FROM_FUTURE', { sender: f.subscriber });
  if (f.timestamp < now - opts.maxAgeMs) throw new SecurityError('TOO_OLD', { sender: f.subscriber });
  if (f.timestamp < opts.nonces.sinceMs - opts.clockSkewMs) {
    throw new SecurityError('TOO_OLD', {
      sender: f.subscriber,
      detail: 'timestamped more than clockSkewMs before this publisher started: its key-request nonces are in memory only, and a restart may have forgotten this one (the restart rule)',
    });
  }
  const authentic = (): boolean => verifyFalcon512(f.signature, signedMessage(LABELS.keyRequest, f.signed), cert.publicKeys.falcon);
  // As for envelopes: a nonce already seen is a DUPLICATE only for an exact (authentic) redelivery; a tampered copy is BAD_SIGNATURE.
  if (opts.nonces.has(f.subscriber, f.nonce, now)) {
    if (authentic()) throw new SecurityError('DUPLICATE', { sender: f.subscriber });
    throw new SecurityError('BAD_SIGNATURE', { sender: f.subscriber, detail: 'a tampered copy of a key request already seen' });
  }
  if (!authentic()) {
    throw new SecurityError('BAD_SIGNATURE', { sender: f.subscriber });
  }
  opts.nonces.add(f.subscriber, f.nonce, f.timestamp + opts.maxAgeMs + opts.clockSkewMs, now);
  return Object.freeze({ subscriber: f.subscriber, subscriberCertificate: cert, filter: f.filter, timestamp: f.timestamp });
}
