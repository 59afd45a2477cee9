// Attacks on what is addressed to one subscriber in the signed-mode run:
// direct envelopes (commands on cmd/<id>) and key grants, taken from the
// broker's pools of what it wrote: replays, redirections, another
// recipient's copy, bit flips, truncations, rewritten sequence numbers,
// timestamps, senders, topics and key epochs, and zero-padded signatures.

import { ENVELOPE_TYPE } from '../../../../src/protocol/envelope.js';
import { extend, flipBit, truncate } from '../../../support/mitm-proxy.js';
import { PREFIX, T1 } from '../../plant.js';
import { editDirect, tryDirect } from '../../wire-edit.js';
import { other, type Attacker } from '../attacker.js';
import type { Attack } from '../types.js';
import { zeroPadded } from './padded.js';

/** A direct envelope to `me` (the last one written to it), tampered with or sent elsewhere. */
export function directAttack(atk: Attacker, me: string): Attack {
  const { rng } = atk;
  const pool = atk.directPool.get(me)!;
  const d = pool.last();
  if (!d) return undefined;
  const f = tryDirect(d.payload, ENVELOPE_TYPE.direct);
  if (!f) return undefined;
  const kind = rng.weighted({
    'direct-replay': 4,
    'direct-redirect': 3,
    'direct-wrong-recipient': 3,
    'direct-key-epoch': 2,
    'direct-bitflip': 4,
    'direct-truncate': 1,
    'direct-extend': 1,
    'direct-as-grant': 1,
    'direct-seq-fresh': 2,
    'direct-future-dated': 1,
    'direct-sender-swap': 1,
    'direct-topic-rewrite': 1,
    'direct-padded-signature': 1,
  });
  const A = (payload: Uint8Array, topic = d.topic): Attack => ({ kind, target: me, topic, payload });
  switch (kind) {
    case 'direct-replay':
      return A(rng.pick(pool.items).payload);
    case 'direct-redirect':
      return A(d.payload, rng.pick([...T1, `cmd/${other(me)}`]));
    case 'direct-wrong-recipient': {
      const o = atk.directPool.get(other(me))!.last();
      return o ? A(o.payload, rng.chance(0.5) ? o.topic : `cmd/${me}`) : undefined;
    }
    case 'direct-key-epoch':
      return A(editDirect(d.payload, ENVELOPE_TYPE.direct, { recipientKeyEpoch: rng.pick([0, 2, 0xffffffff]) }));
    case 'direct-bitflip':
      return A(flipBit(d.payload, rng.int(d.payload.length * 8)));
    case 'direct-truncate':
      return A(truncate(d.payload, rng.int(d.payload.length)));
    case 'direct-extend':
      return A(extend(d.payload, rng.bytes(rng.range(1, 32))));
    case 'direct-as-grant':
      return A(d.payload, `${PREFIX}/grants/${me}`);
    case 'direct-seq-fresh':
      return A(editDirect(d.payload, ENVELOPE_TYPE.direct, { seq: atk.fresh(f.seq) }));
    case 'direct-future-dated':
      return A(editDirect(d.payload, ENVELOPE_TYPE.direct, { seq: atk.fresh(f.seq), timestamp: Date.now() + 600_000 }));
    case 'direct-sender-swap':
      return A(editDirect(d.payload, ENVELOPE_TYPE.direct, { sender: 'pub-2' }));
    case 'direct-topic-rewrite':
      return A(editDirect(d.payload, ENVELOPE_TYPE.direct, { topic: `cmd/${other(me)}` }), `cmd/${other(me)}`);
    case 'direct-padded-signature': {
      const signature = zeroPadded(f.signature);
      return signature && A(editDirect(d.payload, ENVELOPE_TYPE.direct, { signature }));
    }
  }
  return undefined;
}

/** A key grant to `me` (one written to it before), tampered with or sent elsewhere. */
export function grantAttack(atk: Attacker, me: string): Attack {
  const { rng } = atk;
  const pool = atk.grantPool.get(me)!;
  const g = pool.length ? rng.pick(pool.items) : undefined;
  if (!g) return undefined;
  const f = tryDirect(g.payload, ENVELOPE_TYPE.grant);
  if (!f) return undefined;
  const kind = rng.weighted({
    'grant-replay': 4,
    'grant-wrong-recipient': 3,
    'grant-other-topic': 1,
    'grant-redirect-data': 1,
    'grant-bitflip': 4,
    'grant-truncate': 1,
    'grant-seq-fresh': 2,
    'grant-sender-swap': 1,
    'grant-padded-signature': 1,
  });
  const A = (payload: Uint8Array, topic = g.topic): Attack => ({ kind, target: me, topic, payload });
  switch (kind) {
    case 'grant-replay':
      return A(g.payload);
    case 'grant-wrong-recipient': {
      const o = atk.grantPool.get(other(me))!;
      return o.length ? A(rng.pick(o.items).payload, `${PREFIX}/grants/${me}`) : undefined;
    }
    case 'grant-other-topic':
      return A(g.payload, `${PREFIX}/grants/${other(me)}`);
    case 'grant-redirect-data':
      return A(g.payload, rng.pick(T1));
    case 'grant-bitflip':
      return A(flipBit(g.payload, rng.int(g.payload.length * 8)));
    case 'grant-truncate':
      return A(truncate(g.payload, rng.int(g.payload.length)));
    case 'grant-seq-fresh':
      return A(editDirect(g.payload, ENVELOPE_TYPE.grant, { seq: atk.fresh(f.seq) }));
    case 'grant-sender-swap':
      return A(editDirect(g.payload, ENVELOPE_TYPE.grant, { sender: f.sender === 'pub-1' ? 'pub-2' : 'pub-1' }));
    case 'grant-padded-signature': {
      const signature = zeroPadded(f.signature);
      return signature && A(editDirect(g.payload, ENVELOPE_TYPE.grant, { signature }));
    }
  }
  return undefined;
}
