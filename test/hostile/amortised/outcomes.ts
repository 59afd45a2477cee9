// The amortised-mode run's promise per attack kind: the outcomes each kind
// may come to. The model (amortised-model.ts) gives each packet's one
// outcome; it must lie within its kind's set (a separate check of the oracle
// itself).

import type { Outcome } from '../oracle.js';

/**
 * What each attack kind may come to, from the check orders of docs/PROTOCOL.md (amortised envelope, batch manifest,
 * signed group envelope) and the client's dispatch. The model gives the one outcome of each packet; this table is
 * the coarser promise per kind, and the model's answer must lie within it. 'held' means held for a manifest, then
 * BAD_SIGNATURE (checked separately: every held attack must end rejected); 'duplicate' a silent drop; 'none' a no-op.
 */
export const KIND_OUTCOMES: Record<string, readonly Outcome[]> = {
  // REPLAY in the kinds below that copy or edit a pooled message: the pools (3,000 envelopes) reach more than
  // windowSize (1,024) numbers back in the long run (AMORTISED_HOSTILE_LONG), and a number that far behind the
  // window is REPLAY before anything else is checked (seen at 30,000 attacks only).
  // Copies of an honest amortised message already delivered or held: the window, or the hold buffer, has it.
  duplicate: ['duplicate'],
  'duplicate-dup-flag': ['duplicate'],
  'replay-later': ['duplicate', 'REPLAY'],
  'replay-old': ['duplicate', 'REPLAY'],
  'replay-retained': ['UNSUPPORTED_VERSION'], // amortised messages are never accepted retained
  'replay-old-epoch': ['STALE_EPOCH'],
  // The digest binds the topic: a stored manifest of the target topic that covers the seq lists another digest
  // (BAD_SIGNATURE); else the channel's window already holds the seq (duplicate: the window is per channel, not
  // per topic, and a copy of an accepted number is not checked against a digest once its manifest is forgotten);
  // else the topic, part of the AAD, fails decryption.
  'redirect-same-channel': ['BAD_SIGNATURE', 'duplicate', 'REPLAY', 'DECRYPT_FAILED'],
  'redirect-other-channel': ['TOPIC_MISMATCH'],
  'redirect-command': ['NOT_SUBSCRIBED'], // the subscribers here subscribe to plant/# only
  'redirect-control': ['MALFORMED'],
  truncate: ['MALFORMED'],
  extend: ['MALFORMED'],
  empty: ['MALFORMED'],
  garbage: ['MALFORMED', 'UNSUPPORTED_VERSION'], // UNSUPPORTED_VERSION: a random first byte that is a type byte, a version that is not 1
  'garbage-typed': ['MALFORMED'],
  'bitflip-header': ['MALFORMED', 'UNSUPPORTED_VERSION'],
  'bitflip-epoch': ['UNKNOWN_EPOCH', 'STALE_EPOCH'],
  // TOO_LARGE: a number flipped far ahead while maxHeldAhead far-ahead messages are held (refused before decryption).
  'bitflip-seq': ['MALFORMED', 'REPLAY', 'BAD_SIGNATURE', 'duplicate', 'TOO_LARGE', 'DECRYPT_FAILED'],
  'bitflip-timestamp': ['MALFORMED', 'STALE_EPOCH', 'FROM_FUTURE', 'TOO_OLD', 'BAD_SIGNATURE', 'duplicate', 'REPLAY', 'DECRYPT_FAILED'],
  // Changed bytes change the digest: a stored manifest says BAD_SIGNATURE, the window duplicate, else GCM fails.
  'bitflip-ciphertext': ['BAD_SIGNATURE', 'duplicate', 'REPLAY', 'DECRYPT_FAILED'],
  bitflip: ['MALFORMED', 'UNSUPPORTED_VERSION', 'TOPIC_MISMATCH', 'NOT_AUTHORISED', 'UNKNOWN_EPOCH', 'STALE_EPOCH', 'REPLAY', 'BAD_SIGNATURE', 'duplicate', 'FROM_FUTURE', 'TOO_OLD', 'TOO_LARGE', 'DECRYPT_FAILED'],
  'byte-randomise': ['MALFORMED', 'UNSUPPORTED_VERSION', 'TOPIC_MISMATCH', 'NOT_AUTHORISED', 'UNKNOWN_EPOCH', 'STALE_EPOCH', 'REPLAY', 'BAD_SIGNATURE', 'duplicate', 'FROM_FUTURE', 'TOO_OLD', 'TOO_LARGE', 'DECRYPT_FAILED'],
  splice: ['BAD_SIGNATURE', 'duplicate', 'REPLAY', 'DECRYPT_FAILED'],
  'version-downgrade': ['UNSUPPORTED_VERSION'],
  'suite-downgrade': ['UNSUPPORTED_VERSION'],
  'flags-signed': ['MALFORMED'], // an amortised body claiming SIGNED: the signature field is missing
  'flags-other': ['UNSUPPORTED_VERSION'],
  // D/G/Q/N/C: another layout (MALFORMED); D and B read the header first and refuse flags 0x02 (UNSUPPORTED_VERSION).
  'type-confusion': ['MALFORMED', 'UNSUPPORTED_VERSION'],
  'sender-swap': ['NOT_AUTHORISED', 'UNKNOWN_EPOCH'], // UNKNOWN_EPOCH: rogue-1 may publish on the channel but has no epoch
  'channel-swap': ['TOPIC_MISMATCH', 'NOT_AUTHORISED'],
  'epoch-newer': ['UNKNOWN_EPOCH'],
  'epoch-max': ['UNKNOWN_EPOCH'],
  // UNKNOWN_EPOCH while the older epoch's grant may still be accepted (graceMs after the newer one's arrived), then STALE_EPOCH.
  'epoch-older': ['STALE_EPOCH', 'UNKNOWN_EPOCH'],
  'seq-future-dated': ['FROM_FUTURE'],
  'seq-expired': ['TOO_OLD'],
  'seq-fresh-forged': ['DECRYPT_FAILED', 'TOO_LARGE'], // the nonce derives from the seq; TOO_LARGE: far ahead, refused before decryption
  'seq-reuse': ['BAD_SIGNATURE', 'duplicate', 'REPLAY'],
  // Below the window of the message it edits; that message may itself be an old pooled one, so the new number can
  // still be within the window: accepted already (duplicate) or not (the nonce derives from it: DECRYPT_FAILED).
  'seq-below-window': ['REPLAY', 'BAD_SIGNATURE', 'duplicate', 'DECRYPT_FAILED'],
  'seq-over-2^53': ['MALFORMED'],
  'timestamp-far-future': ['STALE_EPOCH'], // after the epoch's notAfter
  'timestamp-zero': ['TOO_OLD', 'duplicate', 'REPLAY', 'BAD_SIGNATURE'],
  // Insiders (sub-2 holds the epoch key) sealing in pub-1's name: decrypts, so held; never listed by a real manifest.
  // Numbered far ahead: TOO_LARGE when maxHeldAhead far-ahead messages are held and it would be the farthest.
  'insider-fresh': ['held', 'TOO_LARGE'],
  // Issue 19, finding 5: a burst of far-ahead forgeries; held up to maxHeldAhead per sender and channel (the farthest
  // rejected first, TOO_LARGE, later when a nearer one arrives), the rest refused before decryption.
  'insider-far-future-flood': ['held', 'TOO_LARGE'],
  // Two insider-next forgeries for the same sequence number, topic and millisecond are byte-identical: the second is
  // a copy of one already held (DUPLICATE, silent). Seen about once in 14 runs.
  'insider-next': ['held', 'BAD_SIGNATURE', 'duplicate'],
  'insider-reuse': ['BAD_SIGNATURE', 'duplicate', 'REPLAY'],
  'insider-manifest': ['BAD_SIGNATURE'],
  // Manifests.
  'manifest-duplicate': ['none'],
  'manifest-duplicate-dup-flag': ['none'],
  'manifest-replay': ['none'], // a manifest needs no window: it can only list what was delivered or is held
  'manifest-replay-old-epoch': ['none'],
  'manifest-retained': ['UNSUPPORTED_VERSION'],
  'manifest-redirect-same-channel': ['BAD_SIGNATURE'], // the topic is signed
  'manifest-redirect-other-channel': ['TOPIC_MISMATCH'],
  'manifest-redirect-command': ['NOT_SUBSCRIBED'],
  'manifest-redirect-control': ['MALFORMED'],
  'manifest-truncate': ['MALFORMED'],
  'manifest-extend': ['MALFORMED'],
  'manifest-garbage': ['MALFORMED'],
  'manifest-empty-count': ['MALFORMED'],
  'manifest-bitflip': ['MALFORMED', 'UNSUPPORTED_VERSION', 'TOPIC_MISMATCH', 'NOT_AUTHORISED', 'FROM_FUTURE', 'TOO_OLD', 'BAD_SIGNATURE'],
  'manifest-bitflip-entries': ['BAD_SIGNATURE', 'MALFORMED'],
  'manifest-bitflip-signature': ['BAD_SIGNATURE', 'MALFORMED'],
  'manifest-wrong-digest': ['BAD_SIGNATURE'],
  'manifest-version': ['UNSUPPORTED_VERSION'],
  'manifest-suite': ['UNSUPPORTED_VERSION'],
  'manifest-flags': ['UNSUPPORTED_VERSION'],
  'manifest-type-confusion': ['MALFORMED', 'UNSUPPORTED_VERSION', 'BAD_SIGNATURE', 'TOPIC_MISMATCH', 'NOT_AUTHORISED', 'UNKNOWN_EPOCH', 'STALE_EPOCH', 'REPLAY', 'FROM_FUTURE', 'TOO_OLD'],
  'manifest-sender-swap': ['NOT_AUTHORISED', 'BAD_SIGNATURE'],
  'manifest-channel-swap': ['TOPIC_MISMATCH', 'NOT_AUTHORISED'],
  'manifest-future-dated': ['FROM_FUTURE'],
  'manifest-expired': ['TOO_OLD'],
  'manifest-epoch-swap': ['BAD_SIGNATURE'],
  'manifest-forged-signer': ['BAD_SIGNATURE'],
  'manifest-rogue-signer': ['BAD_SIGNATURE'],
  // The honest manifest with its signature zero-padded to 666 bytes: one encoding per signature (issue 19).
  'manifest-padded-signature': ['BAD_SIGNATURE'],
  // Signed envelopes (the retained topic) dressed as amortised, and copies.
  'signed-flags-amortised': ['MALFORMED'],
  'signed-duplicate': ['duplicate', 'REPLAY'],
};

/** Kinds whose no-op ('none') is by design, not an attack absorbed silently. */
export const NOOP_KINDS = new Set(['manifest-duplicate', 'manifest-duplicate-dup-flag', 'manifest-replay', 'manifest-replay-old-epoch']);
