// The model's key requests to a publisher: the subscriber's certificate and
// rights, the timestamp, the nonce (a copy already seen), the signature, and
// whether the filter overlaps a channel the publisher may publish on.

import { maySubscribe } from '../../../src/certs/certificate.js';
import { filtersOverlap } from '../../../src/protocol/channels.js';
import { decodeKeyRequest } from '../../../src/protocol/grant.js';
import { parseOr, stop, type Outcome } from '../oracle.js';
import { near, restartRule, type ClientState, type CloseCall } from './state.js';
import { certOf } from './trust.js';

export function keyRequest(cs: ClientState, payload: Uint8Array, now: number, close: CloseCall): Outcome {
  const f = parseOr(() => decodeKeyRequest(payload));
  if (f.publisher !== cs.id) return stop('WRONG_RECIPIENT');
  const cert = certOf(cs, f.subscriber, now, close);
  if (!maySubscribe(cert, f.filter)) return stop('NOT_AUTHORISED');
  near(cs, f.timestamp, now + cs.cfg.clockSkewMs, close, 'FROM_FUTURE');
  if (f.timestamp > now + cs.cfg.clockSkewMs) return stop('FROM_FUTURE');
  near(cs, f.timestamp, now - cs.cfg.maxAgeMs, close, 'TOO_OLD');
  if (f.timestamp < now - cs.cfg.maxAgeMs) return stop('TOO_OLD');
  if (restartRule(cs, cs.keysSince, f.timestamp, now, close) !== undefined) return stop('TOO_OLD');
  const genuine = cs.cfg.genuine.isSigned(payload);
  const nonce = `${f.subscriber}\n${Buffer.from(f.nonce).toString('hex')}`;
  const expires = cs.nonces.get(nonce);
  if (expires !== undefined && expires >= now) return stop(genuine ? 'DUPLICATE' : KEY_REQUEST_TAMPERED_DUPLICATE);
  if (!genuine) return stop('BAD_SIGNATURE');
  cs.nonces.set(nonce, f.timestamp + cs.cfg.maxAgeMs + cs.cfg.clockSkewMs);
  const overlapping = cs.ownCert.publish.filter((c) => filtersOverlap(f.filter, c));
  if (overlapping.length === 0) return 'none';
  if (!overlapping.some((c) => maySubscribe(cert, c))) return stop('NOT_AUTHORISED');
  return 'none';
}

/**
 * What a tampered copy of a key request whose nonce was already seen comes to.
 * docs/PROTOCOL.md checks the nonce before the signature; the envelopes'
 * rule ("already seen: DUPLICATE if the signature verifies, else
 * BAD_SIGNATURE") makes it BAD_SIGNATURE.
 */
export const KEY_REQUEST_TAMPERED_DUPLICATE: Outcome = 'BAD_SIGNATURE';
