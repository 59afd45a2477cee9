// Reading who a message claims to be from, before anything is verified: the
// client uses it to hold a message until the claimed sender's certificate
// arrives. The claim is never trusted; the message is verified in full later.

import { decodeDirect } from './direct.js';
import { decodeKeyRequest } from './grant.js';
import { decodeGroup } from './group.js';
import { ENVELOPE_TYPE } from './envelope.js';

/** The claimed (unverified) sender of an envelope, grant or key request; undefined if it does not parse. */
export function claimedSender(payload: Uint8Array): string | undefined {
  try {
    if (payload[0] === ENVELOPE_TYPE.group) return decodeGroup(payload).sender;
    if (payload[0] === ENVELOPE_TYPE.direct) return decodeDirect(payload, ENVELOPE_TYPE.direct).sender;
    if (payload[0] === ENVELOPE_TYPE.grant) return decodeDirect(payload, ENVELOPE_TYPE.grant).sender;
    if (payload[0] === ENVELOPE_TYPE.keyRequest) return decodeKeyRequest(payload).subscriber;
  } catch {
    // not a well-formed message: the caller reports it when it fails verification
  }
  return undefined;
}
