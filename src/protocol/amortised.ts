// Amortised origin authentication (optional, off by default): group data
// envelopes without a per-message signature (flags = AMORTISED), each batch of
// them covered by one signed batch manifest (type 'B') published on the same
// topic. Layouts, check order and policies: docs/PROTOCOL.md, "Amortised mode".
//
//   amortised envelope: header(type M, version 1, suite 1, flags 0x02) | sender | channel | epoch u32 | seq u64
//                       | timestamp u64 | AES-256-GCM ct (bytes32)                        (no signature)
//   entry digest:       SHAKE-256(LABELS.amortisedEntry || string16(topic) || envelope, 32)
//   manifest:           header(type B, version 1, suite 1, flags 0x01) | sender | channel | epoch u32 | timestamp u64
//                       | count u16 | count x (seq u64 | digest 32) | Falcon-512 signature (bytes16)
//   manifest signature: Falcon-512(LABELS.amortisedManifest || every byte before the signature || string16(topic))
//
// A subscriber decrypts an amortised message and checks it against the
// replay window (pure), but delivers it only once a verified manifest lists
// its digest; a digest that differs from the manifest's for its sequence
// number, or a sequence number inside a manifest's range that it does not
// list, is BAD_SIGNATURE (a forgery by an insider holding the epoch key, or by
// the broker); a message no manifest covers within holdMs is BAD_SIGNATURE.
//
// The mode's rooms, one job each, in amortised/: envelope.ts (seal, decode,
// decrypt, entry digest), manifest.ts (seal, decode, verify), batcher.ts
// (publisher: which messages each manifest covers), receiver.ts (subscriber:
// held messages and verified manifests). This module is their one entry.

export const AMORTISED_DEFAULTS = Object.freeze({
  /** Publisher: messages per manifest. */
  maxBatch: 64,
  /** Publisher: a batch is closed and signed at most this long after its first message. */
  maxDelayMs: 25,
  /** Subscriber: a message no manifest covered within this long is rejected (BAD_SIGNATURE). */
  holdMs: 5_000,
  /** Subscriber: amortised messages held at once, over all senders and channels (the one holding the most pays). */
  maxHeld: 8_192,
  /** Subscriber: amortised messages held at once per (sender, channel) (the farthest ahead rejected first). */
  maxHeldPerChannel: 4_096,
  /** Subscriber: plaintext bytes held at once, over all senders and channels. */
  maxHeldBytes: 64 * 1024 * 1024,
  /** Subscriber: plaintext bytes held at once per (sender, channel). */
  maxHeldBytesPerChannel: 16 * 1024 * 1024,
  /** Subscriber: a message numbered more than this above the last number a verified manifest of its sender and channel listed is far ahead. */
  maxAhead: 4_096,
  /** Subscriber: far-ahead messages held at once per (sender, channel); beyond, the farthest is refused (TOO_LARGE). */
  maxHeldAhead: 256,
  /** Subscriber: verified manifests kept (for messages that arrive after their manifest), over all streams. */
  maxManifests: 256,
});

export {
  ENTRY_DIGEST_BYTES,
  amortisedAad,
  decodeAmortised,
  decryptAmortised,
  entryDigest,
  isAmortisedEnvelope,
  maxAmortisedBytes,
  sealAmortised,
  type AmortisedFields,
  type SealAmortisedOptions,
} from './amortised/envelope.js';
export {
  MANIFEST_TYPE,
  MAX_MANIFEST_BYTES,
  MAX_MANIFEST_ENTRIES,
  decodeManifest,
  sealManifest,
  sealManifestAsync,
  verifyManifest,
  type ManifestEntry,
  type ManifestFields,
  type SealManifestOptions,
  type VerifiedManifest,
  type VerifyManifestOptions,
} from './amortised/manifest.js';
export { AmortisedBatcher, type ClosedBatch } from './amortised/batcher.js';
export { AmortisedReceiver, amortisedStreamId, type Coverage, type HeldAmortised } from './amortised/receiver.js';
