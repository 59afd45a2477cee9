// The model's direct envelopes and grants (a grant is a direct envelope
// with an epoch key inside): recipient and key epoch, topic, the sender's
// certificate and rights, the replay window, signature and decryption; then,
// for a grant, the channel, its end, rollback of a held key, the install of
// the epoch and the release of the messages held for it. Genuine grants are
// decrypted ahead (asynchronously) so that the model knows what they carry.

import { mayPublish, type Certificate } from '../../../src/certs/certificate.js';
import { SecurityError } from '../../../src/errors.js';
import { decodeDirect, openDirectEnvelope, type DirectFields } from '../../../src/protocol/direct.js';
import { MAX_GRANT_PAYLOAD_BYTES, decodeGrantPayload } from '../../../src/protocol/grant.js';
import { ENVELOPE_TYPE } from '../../../src/protocol/envelope.js';
import { Stop, hashOf, installEpoch, outcomeOf, parseOr, stop, type Outcome } from '../oracle.js';
import type { Delta } from './delta.js';
import { groupEnvelope } from './group.js';
import { liveCheck } from './replay.js';
import { dropStream, graceEndOf, near, settleHeld, topicArg, windowFor, type ClientState, type CloseCall } from './state.js';
import { certOf } from './trust.js';

export function directEnvelope(cs: ClientState, topic: string, payload: Uint8Array, now: number, close: CloseCall): Outcome {
  topicArg(cs, topic);
  const f = parseOr(() => decodeDirect(payload, ENVELOPE_TYPE.direct));
  if (f.recipient !== cs.id || f.recipientKeyEpoch !== cs.ownCert.keyEpoch) return stop('WRONG_RECIPIENT');
  if (f.topic !== topic) return stop('TOPIC_MISMATCH');
  const cert = certOf(cs, f.sender, now, close);
  if (!mayPublish(cert, f.topic)) return stop('NOT_AUTHORISED');
  const id = directChecks(cs, f, cert, payload, now, close);
  windowFor(cs, id).accept(f.seq);
  return 'deliver';
}

/** What direct envelopes and grants check alike once the sender's certificate is known: replay window, signature, decryption. Returns the window's id. */
export function directChecks(cs: ClientState, f: DirectFields, cert: Certificate, payload: Uint8Array, now: number, close: CloseCall): string {
  const id = `${f.sender}\nd${cert.keyEpoch}\n0`;
  const genuine = cs.cfg.genuine.isSigned(payload);
  const replay = liveCheck(cs, id, f.seq, f.timestamp, now, close);
  if (replay !== undefined) {
    if (replay === 'DUPLICATE' && !genuine) return stop('BAD_SIGNATURE');
    return stop(replay);
  }
  if (!genuine) return stop('BAD_SIGNATURE');
  if (!cs.cfg.genuine.decrypts(payload)) return stop('DECRYPT_FAILED');
  return id;
}

export async function grantPlaintext(cs: ClientState, payload: Uint8Array): Promise<void> {
  const g = cs.cfg.genuine;
  const h = hashOf(payload);
  if (g.grantPlaintext.has(h) || !g.isSigned(payload)) return;
  let f;
  try {
    f = decodeDirect(payload, ENVELOPE_TYPE.grant, MAX_GRANT_PAYLOAD_BYTES);
  } catch {
    return;
  }
  const sender = cs.cfg.certificateOf(f.sender);
  if (!sender) return;
  try {
    const { inspected } = await openDirectEnvelope(
      payload,
      ENVELOPE_TYPE.grant,
      {
        recipient: cs.cfg.identity,
        receivedTopic: f.topic,
        trust: { get: () => sender },
        now: f.timestamp,
        replay: { check: () => ({ ok: true }), accept: async () => undefined },
        maxPayloadBytes: MAX_GRANT_PAYLOAD_BYTES,
      },
      (plaintext) => {
        try {
          return decodeGrantPayload(plaintext.slice());
        } catch (err) {
          return new Stop(err instanceof SecurityError ? err.code : 'MALFORMED');
        }
      },
    );
    g.grantPlaintext.set(h, inspected);
  } catch {
    // Not for us (another recipient's grant): the model never needs its plaintext.
  }
}

export function grant(cs: ClientState, topic: string, payload: Uint8Array, now: number, delta: Delta, close: CloseCall): Outcome {
  topicArg(cs, topic);
  const f = parseOr(() => decodeDirect(payload, ENVELOPE_TYPE.grant, MAX_GRANT_PAYLOAD_BYTES));
  if (f.recipient !== cs.id || f.recipientKeyEpoch !== cs.ownCert.keyEpoch) return stop('WRONG_RECIPIENT');
  if (f.topic !== topic) return stop('TOPIC_MISMATCH');
  const cert = certOf(cs, f.sender, now, close);
  const id = directChecks(cs, f, cert, payload, now, close);
  const g = cs.cfg.genuine.grantPlaintext.get(hashOf(payload));
  if (g === undefined) throw new Error(`model: no plaintext for a genuine grant to ${cs.id} from ${f.sender}`);
  if (g instanceof Stop) return stop(g.outcome);
  if (!cert.publish.includes(g.channel)) return stop('NOT_AUTHORISED');
  near(cs, g.notAfter + cs.cfg.graceMs, now, close, 'STALE_EPOCH');
  if (g.notAfter + cs.cfg.graceMs < now) return stop('STALE_EPOCH');
  const key = `${cert.subject}\n${g.channel}`;
  const s = cs.streams.get(key);
  const held = s && s.senderKeyEpoch === cert.keyEpoch ? s.epochs.get(g.epoch) : undefined;
  if (s && s.senderKeyEpoch > cert.keyEpoch) return stop('STALE_EPOCH');
  if (s && s.senderKeyEpoch === cert.keyEpoch && !held) {
    const end = graceEndOf(cs, s, g.epoch);
    near(cs, now, end, close, 'STALE_EPOCH');
    if (now > end) return stop('STALE_EPOCH');
  }
  const keyTag = hashOf(g.epochKey);
  if (held && held.keyTag !== keyTag) return stop('ROLLBACK');
  windowFor(cs, id).accept(f.seq);
  // Install (KeyManager.#install).
  let st = s;
  if (st && st.senderKeyEpoch < cert.keyEpoch) {
    dropStream(cs, st);
    st = undefined;
  }
  if (!st) {
    st = { sender: cert.subject, channel: g.channel, senderKeyEpoch: cert.keyEpoch, latest: 0, floor: 0, epochs: new Map(), held: [] };
    cs.streams.set(key, st);
  }
  installEpoch(st, g.epoch, now, cs.cfg.graceMs, { firstSeq: g.firstSeq, notAfter: g.notAfter, keyTag });
  const waiting = st.held.filter((h) => h.epoch === g.epoch);
  st.held = st.held.filter((h) => h.epoch !== g.epoch);
  settleHeld(cs, st, now);
  // Held messages of this epoch are opened again; failures are dropped silently.
  for (const h of waiting) if (outcomeOf(() => groupEnvelope(cs, h.topic, h.bytes, h.retained, now, close, true)) === 'deliver') delta.delivered++;
  return 'none';
}
