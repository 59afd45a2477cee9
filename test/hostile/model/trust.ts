// The model's trust checks: the sender's certificate as the TrustStore
// gives it (UNKNOWN_SENDER, REVOKED, EXPIRED), announcements (the CA's
// signature, validity, revocation, rollback, the subject's own signature, the
// topic), and revocation lists (issuer, signature, rollback; keys held from a
// newly revoked publisher are dropped).

import { decodeAnnouncement } from '../../../src/certs/announce.js';
import type { Certificate } from '../../../src/certs/certificate.js';
import { decodeRevocationList, revocationEntryFor } from '../../../src/certs/revocation.js';
import { hashOf, parseOr, stop, type Outcome } from '../oracle.js';
import { dropStream, near, type ClientState, type CloseCall } from './state.js';

/** TrustStore.get: UNKNOWN_SENDER, REVOKED, EXPIRED. */
export function certOf(cs: ClientState, subject: string, now: number, close: CloseCall): Certificate {
  const cert = cs.trust.get(subject);
  if (!cert) return stop('UNKNOWN_SENDER');
  if (cs.list && revocationEntryFor(cs.list, cert)) return stop('REVOKED');
  near(cs, now, cert.notBefore, close, 'EXPIRED');
  near(cs, now, cert.notAfter, close, 'EXPIRED');
  if (now < cert.notBefore || now > cert.notAfter) return stop('EXPIRED');
  return cert;
}

/** store.check and the announcement's own checks; once the certificate is trusted, `reopen` opens the messages that waited for it. */
export function announcement(cs: ClientState, subject: string, payload: Uint8Array, now: number, close: CloseCall, reopen: (subject: string) => void): Outcome {
  if (payload.length === 0) return 'none';
  const a = parseOr(() => decodeAnnouncement(payload));
  const c = a.certificate;
  // store.check: certificate signature (issuer, suite, CA signature), validity, revocation, rollback.
  if (c.issuer !== cs.cfg.anchor.id || c.signatureSuite !== cs.cfg.anchor.suite) return stop('BAD_SIGNATURE');
  if (!cs.cfg.genuine.isSigned(c.bytes)) return stop('BAD_SIGNATURE');
  near(cs, now, c.notBefore, close, 'EXPIRED');
  near(cs, now, c.notAfter, close, 'EXPIRED');
  if (now < c.notBefore || now > c.notAfter) return stop('EXPIRED');
  if (cs.list && revocationEntryFor(cs.list, c)) return stop('REVOKED');
  const known = cs.trust.get(c.subject);
  if (known) {
    if (c.keyEpoch < known.keyEpoch) return stop('ROLLBACK');
    if (c.keyEpoch === known.keyEpoch) {
      if (c.serial < known.serial) return stop('ROLLBACK');
      if (c.serial === known.serial && hashOf(c.tbs) !== hashOf(known.tbs)) return stop('ROLLBACK');
    }
  }
  // The subject's own signature over the announcement.
  if (!cs.cfg.genuine.isSigned(payload)) return stop('BAD_SIGNATURE');
  const skew = 5 * 60_000;
  near(cs, a.timestamp, now + skew, close, 'FROM_FUTURE');
  if (a.timestamp > now + skew) return stop('FROM_FUTURE');
  cs.trust.set(c.subject, known && hashOf(known.tbs) === hashOf(c.tbs) ? known : c);
  if (c.subject !== subject) return stop('TOPIC_MISMATCH');
  // Messages that waited for this certificate are opened now.
  reopen(c.subject);
  return 'none';
}

export function revocationList(cs: ClientState, payload: Uint8Array): Outcome {
  if (payload.length === 0) return 'none';
  const l = parseOr(() => decodeRevocationList(payload));
  if (l.issuer !== cs.cfg.anchor.id || l.signatureSuite !== cs.cfg.anchor.suite) return stop('BAD_SIGNATURE');
  if (!cs.cfg.genuine.isSigned(payload)) return stop('BAD_SIGNATURE');
  const current = cs.list;
  if (current) {
    if (l.number < current.number) return stop('ROLLBACK');
    if (l.number === current.number) {
      if (hashOf(l.tbs) === hashOf(current.tbs)) return 'none';
      return stop('ROLLBACK');
    }
  }
  const newly = [...cs.trust.values()].filter((c) => revocationEntryFor(l, c) && !(current && revocationEntryFor(current, c))).map((c) => c.subject);
  cs.list = l;
  // KeyManager.handleRevoked: keys held from a revoked publisher are dropped.
  for (const s of [...cs.streams.values()]) if (newly.includes(s.sender)) dropStream(cs, s);
  return 'none';
}
