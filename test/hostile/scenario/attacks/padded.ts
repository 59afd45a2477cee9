// The padded-signature attacks (security review finding 8, issue 19): the broker re-sends an authentic signed
// message, announcement or revocation list with its Falcon signature zero-padded to the padded parameter set's
// length (666 bytes for Falcon-512, 1,280 for Falcon-1024), its length prefix adjusted. PQClean's verifier accepts
// that second encoding; the core takes a compact signature only if its compressed value fills it exactly, so each
// copy must be refused: BAD_SIGNATURE (also for a copy of a message already accepted, which the client checks
// before calling it a duplicate). The model needs nothing new for them: the copy's bytes are not what an honest
// party produced, so they are not genuine.

import { falconPadded512, falconPadded1024 } from '../../../../bindings/index.js';
import { decodeAnnouncement } from '../../../../src/certs/announce.js';
import { decodeRevocationList } from '../../../../src/certs/revocation.js';
import { ByteWriter } from '../../../../src/wire/codec.js';

/** The padded signature lengths, by signature suite. */
export const PADDED_SIGNATURE_BYTES = { falcon512: falconPadded512.lengths.signature, falcon1024: falconPadded1024.lengths.signature } as const;

/** `signature` zero-padded to `length` (Falcon-512's by default); undefined if it is that long already (no second encoding to try). */
export function zeroPadded(signature: Uint8Array, length: number = PADDED_SIGNATURE_BYTES.falcon512): Uint8Array | undefined {
  if (signature.length >= length) return undefined;
  const out = new Uint8Array(length);
  out.set(signature);
  return out;
}

/** `tbs || bytes16(signature zero-padded)`: the layout of announcements and revocation lists. */
function withPadded(tbs: Uint8Array, signature: Uint8Array, length?: number): Uint8Array | undefined {
  const padded = zeroPadded(signature, length);
  return padded && new ByteWriter(tbs.length + 2 + padded.length).fixed(tbs, tbs.length, 'tbs').bytes16(padded).finish();
}

/** An announcement with the subject's signature zero-padded. */
export function paddedAnnouncement(bytes: Uint8Array): Uint8Array | undefined {
  const a = decodeAnnouncement(bytes);
  return withPadded(a.tbs, a.signature);
}

/** A revocation list with the CA's signature zero-padded (to its suite's padded length). */
export function paddedRevocationList(bytes: Uint8Array): Uint8Array | undefined {
  const l = decodeRevocationList(bytes);
  return withPadded(l.tbs, l.signature, PADDED_SIGNATURE_BYTES[l.signatureSuite]);
}
