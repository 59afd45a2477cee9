// Domain-separation labels: every signature and every derived key in the
// protocol starts from one of these, so no value signed or derived for one
// purpose can be reused for another. Listed in docs/PROTOCOL.md ("Labels").
// Add new ones here only; never reuse or edit a published label.

import { concatBytes } from './bytes.js';

const label = (s: string): Uint8Array => new TextEncoder().encode(`pqc-iiot/v1/${s}`);

export const LABELS = Object.freeze({
  certificate: label('certificate'),
  revocationList: label('revocation-list'),
  directSignature: label('direct/signature'),
  directKdf: label('direct/kdf'),
  groupSignature: label('group/signature'),
  groupNonce: label('group/nonce'),
  grant: label('grant'),
  keyRequest: label('key-request'),
  announce: label('announce'),
  // Added with the envelopes (src/protocol/direct.ts, group.ts, src/crypto/hybrid-kem.ts):
  hybridKem: label('hybrid-kem/ml-kem-768+x25519'),
  groupKey: label('group/key'),
  // Identities and the CA (src/identity/identity.ts, src/certs/authority.ts):
  identitySeedFalcon: label('identity/seed/falcon-512'),
  identitySeedMlKem: label('identity/seed/ml-kem-768'),
  identitySeedX25519: label('identity/seed/x25519'),
  identityConsistency: label('identity/pairwise-consistency'),
  caSeed: label('ca/seed'),
  caConsistency: label('ca/pairwise-consistency'),
  trustAnchorFingerprint: label('trust-anchor/fingerprint'),
  // Amortised origin authentication (src/protocol/amortised.ts, docs/PROTOCOL.md "Amortised mode"):
  amortisedEntry: label('amortised/entry'),
  amortisedManifest: label('amortised/manifest'),
  // The amortised envelope's own cipher (AES-256-CTR + KMAC256, src/protocol/group.ts deriveGroupKeys):
  amortisedEncKey: label('amortised/enc-key'),
  amortisedMacKey: label('amortised/mac-key'),
  // KMAC256's customisation string S; fixed in native/src/pqc_ae.c, listed here so that it is never reused.
  aeKmac: label('ae'),
});

/** label || tbs, the bytes every signature of the protocol covers. */
export function signedMessage(label: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  return concatBytes(label, ...parts);
}
