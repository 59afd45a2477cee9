// What a payload claims to be, read from its header bytes only: the one place
// outside the decoders that looks at envelope bytes, so the client asks here
// instead of reading them itself. It proves nothing (the decoders check the
// version, suite, flags and everything after them) and never throws: it reads
// at most the first four bytes, whatever the payload's length.

import { ENVELOPE_TYPE, FLAGS } from './envelope.js';

/**
 * What a payload claims to be:
 * - `group`: a group data envelope (type 'M') not flagged amortised;
 * - `amortised`: a group envelope whose flags byte is exactly AMORTISED (no signature of its own);
 * - `manifest`: a batch manifest of amortised mode (type 'B');
 * - `direct`, `grant`, `keyRequest`: the envelopes of type 'D', 'G', 'Q';
 * - `empty`: no bytes at all (a cleared retained message);
 * - `unknown`: any other first byte.
 */
export type PayloadKind = 'group' | 'amortised' | 'manifest' | 'direct' | 'grant' | 'keyRequest' | 'empty' | 'unknown';

/**
 * The kind `bytes` claims by its type byte, and for a group envelope by its
 * flags byte (a group envelope too short to have one is `group`, and its
 * decoder reports it MALFORMED). Bounded, allocation-free, never throws.
 */
export function classify(bytes: Uint8Array): PayloadKind {
  if (bytes.length === 0) return 'empty';
  switch (bytes[0]) {
    case ENVELOPE_TYPE.group:
      return bytes.length >= 4 && bytes[3] === FLAGS.amortised ? 'amortised' : 'group';
    case ENVELOPE_TYPE.direct:
      return 'direct';
    case ENVELOPE_TYPE.grant:
      return 'grant';
    case ENVELOPE_TYPE.keyRequest:
      return 'keyRequest';
    case ENVELOPE_TYPE.manifest:
      return 'manifest';
    default:
      return 'unknown';
  }
}
