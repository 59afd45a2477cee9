// The first bytes of the identity export and of the certificate encodings
// (docs/PROTOCOL.md, "Identities and certificates"): type, format version and,
// where keys are carried, the key suite. Here, below both src/identity/ and
// src/certs/, because both write them; the envelopes' own type bytes are
// ENVELOPE_TYPE in src/protocol/envelope.ts.

/** First byte of each of our encodings: a message of one type never parses as another. */
export const TYPE = Object.freeze({
  identity: 0x49, // 'I'
  trustAnchor: 0x41, // 'A'
  certificate: 0x43, // 'C'
  revocationList: 0x52, // 'R'
  announcement: 0x4e, // 'N'
});

/** Subject key suite 1: Falcon-512 (signing), ML-KEM-768 and X25519 (key agreement). */
export const KEY_SUITE_ID = 1;

/** The one format version every encoding here has today. */
export const FORMAT_VERSION = 1;
