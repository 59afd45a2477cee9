// Attacks on the control traffic in the signed-mode run: key requests to a
// publisher (replayed, sent to the other publisher, rewritten, tampered),
// announcements and revocation lists (replayed, rolled back, tampered,
// expired or revoked subjects announced again), unknown reserved topics,
// garbage on every control topic, stray MQTT acknowledgements, and key
// requests, announcements and lists with zero-padded signatures.

import { extend, flipBit, truncate } from '../../../support/mitm-proxy.js';
import { PREFIX } from '../../plant.js';
import { editKeyRequest, tryKeyRequest } from '../../wire-edit.js';
import { otherPub, type Attacker } from '../attacker.js';
import type { Attack } from '../types.js';
import { paddedAnnouncement, paddedRevocationList, zeroPadded } from './padded.js';

/** A key request to a publisher (one it was sent before), tampered with or sent to the other publisher. */
export function requestAttack(atk: Attacker): Attack {
  const { rng } = atk;
  const target = rng.chance(0.7) ? 'pub-1' : 'pub-2';
  const pool = atk.requestPool.get(target)!;
  const r = pool.length ? rng.pick(pool.items) : undefined;
  if (!r) return undefined;
  const kind = rng.weighted({
    'kr-replay': 4,
    'kr-wrong-publisher': 2,
    'kr-bitflip': 4,
    'kr-future': 1,
    'kr-old': 1,
    'kr-filter': 1,
    'kr-subscriber-unknown': 1,
    'kr-subscriber-revoked': 1,
    'kr-nonce': 2,
    'kr-tampered-duplicate': 2,
    'kr-truncate': 1,
    'kr-garbage': 1,
    'kr-padded-signature': 1,
  });
  const A = (payload: Uint8Array, topic = r.topic): Attack => ({ kind, target, topic, payload });
  const f = tryKeyRequest(r.payload);
  if (!f) return undefined;
  switch (kind) {
    case 'kr-replay':
      return A(r.payload);
    case 'kr-wrong-publisher': {
      const o = atk.requestPool.get(otherPub(target))!;
      return o.length ? A(rng.pick(o.items).payload) : undefined;
    }
    case 'kr-bitflip':
      return A(flipBit(r.payload, rng.int(r.payload.length * 8)));
    case 'kr-future':
      return A(editKeyRequest(r.payload, { timestamp: Date.now() + 600_000 }));
    case 'kr-old':
      return A(editKeyRequest(r.payload, { timestamp: Date.now() - 900_000 }));
    case 'kr-filter':
      return A(editKeyRequest(r.payload, { filter: rng.pick(['admin/#', '#', 'cmd/+']) }));
    case 'kr-subscriber-unknown':
      return A(editKeyRequest(r.payload, { subscriber: 'mallory-kr' }));
    case 'kr-subscriber-revoked':
      return A(editKeyRequest(r.payload, { subscriber: 'rogue-1' }));
    case 'kr-nonce':
      return A(editKeyRequest(r.payload, { nonce: rng.bytes(16) }));
    case 'kr-tampered-duplicate': {
      const sig = f.signature.slice();
      sig[rng.int(sig.length)]! ^= 1 << rng.int(8);
      return A(editKeyRequest(r.payload, { signature: sig }));
    }
    case 'kr-truncate':
      return A(truncate(r.payload, rng.int(r.payload.length)));
    case 'kr-garbage':
      return A(extend(new Uint8Array([0x51, 1, 1, 1]), rng.bytes(rng.int(800))));
    case 'kr-padded-signature': {
      const signature = zeroPadded(f.signature);
      return signature && A(editKeyRequest(r.payload, { signature }));
    }
  }
  return undefined;
}

/** An announcement, a revocation list, a reserved topic or an MQTT acknowledgement, to any client. */
export function controlAttack(atk: Attacker): Attack {
  const { rng } = atk;
  const target = rng.pick(['sub-1', 'sub-2', 'pub-1', 'pub-2']);
  const subjects = [...atk.announcements.keys()];
  const kind = rng.weighted({
    'ann-replay': 0.3,
    'ann-wrong-topic': 2,
    'ann-bitflip': 3,
    'ann-truncate': 1,
    'ann-garbage': 1,
    'ann-expired': Date.now() > atk.fleet.temp.cert.notAfter + 1000 ? 1 : 0,
    'ann-revoked': atk.revoked ? 1 : 0,
    'crl-replay': 0.3,
    'crl-rollback': atk.list2 ? 1.5 : 0,
    'crl-bitflip': 2,
    'crl-truncate': 1,
    'crl-garbage': 1,
    'reserved-unknown': 1,
    'control-garbage': 2,
    'mqtt-noise': 1,
    'ann-padded-signature': 1,
    'crl-padded-signature': 1,
  });
  const ann = subjects.length ? rng.pick(subjects) : undefined;
  const annBytes = ann ? atk.announcements.get(ann)! : undefined;
  const list = atk.lists.length ? atk.lists[atk.lists.length - 1]! : undefined;
  const A = (topic: string, payload: Uint8Array): Attack => ({ kind, target, topic, payload });
  switch (kind) {
    case 'ann-replay':
      return annBytes ? A(`${PREFIX}/certs/${ann}`, annBytes) : undefined;
    case 'ann-wrong-topic': {
      const to = rng.pick(['pub-1', 'pub-2', 'sub-1', 'sub-2', 'nobody'].filter((s) => s !== ann));
      return annBytes ? A(`${PREFIX}/certs/${to}`, annBytes) : undefined;
    }
    case 'ann-bitflip':
      return annBytes ? A(`${PREFIX}/certs/${ann}`, flipBit(annBytes, rng.int(annBytes.length * 8))) : undefined;
    case 'ann-truncate':
      return annBytes ? A(`${PREFIX}/certs/${ann}`, truncate(annBytes, rng.range(1, annBytes.length - 1))) : undefined;
    case 'ann-garbage':
      return A(`${PREFIX}/certs/${rng.pick(['pub-1', 'sub-1', 'x'])}`, extend(new Uint8Array([0x4e, 1]), rng.bytes(rng.int(3000))));
    case 'ann-expired':
      return atk.announcements.has('temp-1') ? A(`${PREFIX}/certs/temp-1`, atk.announcements.get('temp-1')!) : undefined;
    case 'ann-revoked':
      return atk.announcements.has('rogue-1') ? A(`${PREFIX}/certs/rogue-1`, atk.announcements.get('rogue-1')!) : undefined;
    case 'crl-replay':
      return list ? A(`${PREFIX}/crl`, list.bytes) : undefined;
    case 'crl-rollback':
      return A(`${PREFIX}/crl`, atk.lists[0]!.bytes);
    case 'crl-bitflip':
      return list ? A(`${PREFIX}/crl`, flipBit(list.bytes, rng.int(list.bytes.length * 8))) : undefined;
    case 'crl-truncate':
      return list ? A(`${PREFIX}/crl`, truncate(list.bytes, rng.range(1, list.bytes.length - 1))) : undefined;
    case 'crl-garbage':
      return A(`${PREFIX}/crl`, extend(new Uint8Array([0x52, 1, 1]), rng.bytes(rng.int(600))));
    case 'reserved-unknown':
      return A(rng.pick([PREFIX, `${PREFIX}/x`, `${PREFIX}/certs`, `${PREFIX}/grants/${target}/extra`, `${PREFIX}/unknown/${target}`]), rng.bytes(rng.int(200)));
    case 'control-garbage':
      return A(
        rng.pick([`${PREFIX}/certs/${target}`, `${PREFIX}/crl`, `${PREFIX}/grants/${target}`, `${PREFIX}/key-requests/${target}`]),
        rng.bytes(rng.range(1, 2500)),
      );
    case 'mqtt-noise': {
      const conn = atk.connOf(target);
      if (!conn) return undefined;
      const id = rng.range(60_000, 65_535);
      const packet = rng.pick([
        { cmd: 'puback' as const, messageId: id },
        { cmd: 'pubrec' as const, messageId: id },
        { cmd: 'pubcomp' as const, messageId: id },
        { cmd: 'pubrel' as const, messageId: id },
        { cmd: 'pingresp' as const },
      ]);
      conn.injectPacket('toClient', packet, { kind: 'mqtt-noise' });
      atk.noise++;
      atk.injected++;
      const r = atk.tally.row('mqtt-noise');
      r.attacks++;
      r.ignored++;
      r.expected['none'] = (r.expected['none'] ?? 0) + 1;
      return undefined;
    }
    case 'ann-padded-signature': {
      const padded = annBytes && paddedAnnouncement(annBytes);
      return padded && A(`${PREFIX}/certs/${ann}`, padded);
    }
    case 'crl-padded-signature': {
      const padded = list && paddedRevocationList(list.bytes);
      return padded && A(`${PREFIX}/crl`, padded);
    }
  }
  return undefined;
}
