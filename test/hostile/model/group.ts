// The model's group envelopes: the channel and the sender's rights, the
// epoch lookup (unknown, stale, within grace), the replay checks, the
// signature and decryption; a genuine message whose epoch key is not held
// yet is held until a grant brings it.

import { mayPublish } from '../../../src/certs/certificate.js';
import { decodeGroup } from '../../../src/protocol/group.js';
import { topicMatches } from '../../../src/topic/grammar.js';
import { parseOr, stop, type Outcome } from '../oracle.js';
import { groupCheck } from './replay.js';
import { dropStream, graceEndOf, near, purge, topicArg, windowFor, type ClientState, type CloseCall, type Held } from './state.js';
import { certOf } from './trust.js';

export function groupEnvelope(cs: ClientState, topic: string, payload: Uint8Array, retained: boolean, now: number, close: CloseCall, releasing: boolean): Outcome {
  topicArg(cs, topic);
  const f = parseOr(() => decodeGroup(payload));
  if (!topicMatches(f.channel, topic)) return stop('TOPIC_MISMATCH');
  const cert = certOf(cs, f.sender, now, close);
  if (!cert.publish.includes(f.channel) || !mayPublish(cert, topic)) return stop('NOT_AUTHORISED');
  const id = `${f.sender}\n${'g' + cert.keyEpoch}:${f.channel}\n${f.epoch}`;
  const genuine = cs.cfg.genuine.isGroup(payload, topic);
  // The epoch lookup.
  const key = `${f.sender}\n${f.channel}`;
  const s = cs.streams.get(key);
  let lookup: Outcome | undefined;
  if (!s || s.senderKeyEpoch < cert.keyEpoch) lookup = 'UNKNOWN_EPOCH';
  else if (s.senderKeyEpoch > cert.keyEpoch) lookup = 'STALE_EPOCH';
  else {
    const e = s.epochs.get(f.epoch);
    if (!e) {
      const end = graceEndOf(cs, s, f.epoch);
      near(cs, now, end, close, 'STALE_EPOCH');
      lookup = now <= end ? 'UNKNOWN_EPOCH' : 'STALE_EPOCH';
    } else {
      near(cs, now, e.expiresAt, close, 'STALE_EPOCH');
      near(cs, now, e.notAfter + cs.cfg.graceMs, close, 'STALE_EPOCH');
      if (now > e.expiresAt || now > e.notAfter + cs.cfg.graceMs) {
        purge(cs, s, now);
        lookup = 'STALE_EPOCH';
      } else if (f.seq < e.firstSeq) lookup = 'REPLAY';
      else if (f.timestamp > e.notAfter) lookup = 'STALE_EPOCH';
    }
  }
  if (lookup !== undefined) {
    if (lookup === 'UNKNOWN_EPOCH') {
      const verdict = groupCheck(cs, id, f.seq, f.timestamp, retained, now, close);
      // A copy of a message already accepted is a DUPLICATE with or without the key (tampered: BAD_SIGNATURE).
      if (verdict === 'DUPLICATE') return stop(genuine ? 'DUPLICATE' : 'BAD_SIGNATURE');
      if (verdict === undefined && genuine) {
        hold(cs, cert.keyEpoch, f.sender, f.channel, f.epoch, { bytes: payload.slice(), topic, retained, epoch: f.epoch });
        return releasing ? stop('UNKNOWN_EPOCH') : 'held';
      }
    }
    return stop(lookup);
  }
  const replay = groupCheck(cs, id, f.seq, f.timestamp, retained, now, close);
  if (replay !== undefined) {
    if (replay === 'DUPLICATE' && !genuine) return stop('BAD_SIGNATURE');
    return stop(replay);
  }
  if (!genuine) return stop('BAD_SIGNATURE');
  if (!cs.cfg.genuine.decrypts(payload)) return stop('DECRYPT_FAILED');
  if (retained) cs.retainedSeen.add(`${id}#${f.seq}`);
  else windowFor(cs, id).accept(f.seq);
  return 'deliver';
}

export function hold(cs: ClientState, senderKeyEpoch: number, sender: string, channel: string, epoch: number, h: Held): void {
  const key = `${sender}\n${channel}`;
  let s = cs.streams.get(key);
  if (!s || s.senderKeyEpoch < senderKeyEpoch) {
    if (s) dropStream(cs, s);
    s = { sender, channel, senderKeyEpoch, latest: 0, floor: 0, epochs: new Map(), held: [] };
    cs.streams.set(key, s);
  }
  s.held.push(h);
  if (s.held.length > cs.cfg.maxHeldPerStream) s.held.shift();
  const n = cs.needed.get(key);
  cs.needed.set(key, { epoch: Math.max(epoch, n && n.senderKeyEpoch === senderKeyEpoch ? n.epoch : 0), senderKeyEpoch });
}
