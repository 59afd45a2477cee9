// Forgeries by an insider in the amortised-mode run: sub-2 holds the epoch
// keys, so it can seal amortised messages in pub-1's name that decrypt (held
// for a manifest, never listed by a real one), reuse sequence numbers already
// delivered, sign a manifest for its forgery with its own key, and flood the
// hold buffer with forgeries numbered far ahead of the publisher (issue 19,
// finding 5: they pushed honest messages out before their manifest arrived;
// now at most maxHeldAhead of them are held per sender and channel, the
// farthest refused first, TOO_LARGE, and no honest message is touched).

import { decodeAmortised, sealAmortised, sealManifest } from '../../../../src/protocol/amortised.js';
import { ENVELOPE_TYPE, FLAGS } from '../../../../src/protocol/envelope.js';
import type { GroupEpochKeys } from '../../../../src/protocol/group.js';
import { CH1, T1, T2 } from '../../plant.js';
import { editManifest } from '../../wire-edit.js';
import type { Attacker } from '../attacker.js';
import { HOLD_BOUNDS } from '../fleet.js';
import type { Attack } from '../types.js';

/** sub-2 (an insider: it holds the epoch keys) seals amortised messages in pub-1's name; to sub-1 or itself. */
export async function insiderAttack(atk: Attacker, me: string, m: { topic: string; payload: Uint8Array } | undefined): Promise<Attack[]> {
  const { rng } = atk;
  const base = m && m.payload[0] === ENVELOPE_TYPE.group && m.payload[3] === FLAGS.amortised ? decodeAmortised(m.payload) : undefined;
  if (!base) return [];
  const keys = atk.insiderKeys.get(`${base.sender}|${base.channel}|${base.epoch}`);
  if (!keys) return [];
  const kind = rng.weighted({ 'insider-fresh': 3, 'insider-next': 4, 'insider-reuse': 3, 'insider-manifest': 1.5, 'insider-far-future-flood': 0.4 });
  if (kind === 'insider-far-future-flood') return farFutureFlood(atk, base.sender, base.channel, base.epoch, base.seq, keys);
  const topic = rng.chance(0.7) ? m!.topic : rng.pick(base.channel === CH1 ? T1 : T2);
  let seq: number;
  if (kind === 'insider-fresh' || kind === 'insider-manifest') seq = atk.fresh(base.seq);
  else if (kind === 'insider-next') seq = base.seq + rng.range(1, 4);
  else {
    const o = atk.envPool.get(me)!.items.filter((x) => x.sender === base.sender && x.epoch === base.epoch && atk.delivered(me, x));
    if (!o.length) return [];
    seq = rng.pick(o).seq;
  }
  const payload = new TextEncoder().encode(`h/999999/${base.sender}/${topic}/forged by an insider`);
  const { bytes, digest } = await sealAmortised({ sender: base.sender, keys, topic, payload, seq, now: Date.now() });
  atk.fleet.provenance.addSealed(bytes, topic);
  const out: Attack[] = [{ kind: kind === 'insider-manifest' ? 'insider-fresh' : kind, topic, payload: bytes }];
  if (kind === 'insider-manifest') {
    // A manifest listing the forgery, signed with the insider's own key under the publisher's name.
    const forged = sealManifest({ sender: atk.fleet.identity('sub-2'), channel: base.channel, epoch: base.epoch, topic, entries: [{ seq, digest }], now: Date.now() });
    out.push({ kind, topic, payload: editManifest(forged, { sender: base.sender }) });
  }
  return out;
}

/**
 * A burst of forgeries numbered beyond maxAhead above the publisher's current number, on the channel's topics, in
 * no particular order: some are held (at most maxHeldAhead per sender and channel, the farthest rejected first), the
 * rest refused before decryption; the model says which.
 */
async function farFutureFlood(atk: Attacker, sender: string, channel: string, epoch: number, seq: number, keys: GroupEpochKeys): Promise<Attack[]> {
  const { rng } = atk;
  const out: Attack[] = [];
  const n = rng.range(HOLD_BOUNDS.maxHeldAhead, 3 * HOLD_BOUNDS.maxHeldAhead);
  const topics = channel === CH1 ? T1 : T2;
  for (let i = 0; i < n; i++) {
    const topic = rng.pick(topics);
    const ahead = rng.chance(0.5) ? HOLD_BOUNDS.maxAhead + 1 + rng.int(10_000) : atk.fresh(0);
    const payload = new TextEncoder().encode(`h/999999/${sender}/${topic}/flood ${i} of epoch ${epoch}`);
    const { bytes } = await sealAmortised({ sender, keys, topic, payload, seq: seq + ahead, now: Date.now() });
    atk.fleet.provenance.addSealed(bytes, topic);
    out.push({ kind: 'insider-far-future-flood', topic, payload: bytes });
  }
  return out;
}
