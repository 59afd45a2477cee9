// The hostile broker of the signed-mode run, as hooks on the proxy. On the
// way to the broker it records what honest clients send (genuine by
// definition) and, now and then, duplicates, redirects or corrupts what pub-1
// sends (c2b-*). On the way to a subscriber it withholds honest data (drops,
// delays, reorders) and, for each honest message, injects the attacks it
// draws (attacks/). What it writes to each client fills its pools.

import { ENVELOPE_TYPE } from '../../../src/protocol/envelope.js';
import { flipBit } from '../../support/mitm-proxy.js';
import { hashOf } from '../oracle.js';
import { PREFIX, T1, T2 } from '../plant.js';
import { tryGroup } from '../wire-edit.js';
import { identityOf, type Attacker } from './attacker.js';
import { controlAttack, requestAttack } from './attacks/control.js';
import { dataAttack } from './attacks/data.js';
import { directAttack, grantAttack } from './attacks/envelopes.js';
import type { HonestLedger } from './honest.js';

export function installBroker(atk: Attacker, ledger: HonestLedger): void {
  const { proxy, rng, tally } = atk;
  const { genuine } = atk.fleet;
  proxy.onWrite((conn, direction, out, m, isInjected) => {
    if (direction !== 'toClient') return;
    const me = identityOf(conn);
    if (!me) return;
    if (!isInjected && (m.kind === 'delay' || m.kind === 'reorder')) atk.pendingHonest--;
    if (isInjected || m['attack'] === true) return;
    // Pools of what was really written to each client (exact copies are only replayed after their original).
    const b = out.payload;
    if (atk.groupPool.has(me) && !out.topic.startsWith(PREFIX) && b[0] === ENVELOPE_TYPE.group) {
      const f = tryGroup(b);
      if (f) atk.groupPool.get(me)!.push({ topic: out.topic, payload: b, epoch: f.epoch, seq: f.seq, instance: atk.instance.get(me)! });
    } else if (atk.directPool.has(me) && b[0] === ENVELOPE_TYPE.direct && out.topic === `cmd/${me}`) {
      atk.directPool.get(me)!.push({ topic: out.topic, payload: b, epoch: 0, seq: 0, instance: atk.instance.get(me)! });
    } else if (atk.grantPool.has(me) && out.topic === `${PREFIX}/grants/${me}` && b[0] === ENVELOPE_TYPE.grant) {
      atk.grantPool.get(me)!.push({ topic: out.topic, payload: b, epoch: 0, seq: 0, instance: atk.instance.get(me)! });
    } else if (atk.requestPool.has(me) && out.topic === `${PREFIX}/key-requests/${me}` && b[0] === ENVELOPE_TYPE.keyRequest) {
      atk.requestPool.get(me)!.push({ topic: out.topic, payload: b, epoch: 0, seq: 0, instance: 0 });
    }
  });

  proxy.onPublish((ctx) => {
    const me = identityOf(ctx.conn);
    const p = ctx.packet;
    if (ctx.direction === 'toBroker') {
      // What honest clients send: genuine by definition. Their data publishes are matched with the publish loop.
      const b = p.payload;
      if (b[0] === ENVELOPE_TYPE.group) genuine.addGroup(b, p.topic);
      else if (b.length > 0) genuine.addSigned(b);
      if (b[0] === 0x4e && p.topic.startsWith(`${PREFIX}/certs/`)) atk.announcements.set(p.topic.slice(`${PREFIX}/certs/`.length), b);
      const queue = me ? ledger.pendingPublish.get(me) : undefined;
      if (queue && !p.topic.startsWith(PREFIX)) {
        const next = queue.shift();
        if (!next || next.topic !== p.topic) throw new Error(`hostile: ${me} published on ${p.topic}, expected ${next?.topic}`);
        const h = ledger.honest[next.id]!;
        ledger.byHash.set(`${hashOf(b)}|${p.topic}`, h);
        // The broker's side: duplicate, redirect or corrupt what an honest client sends.
        if (atk.attacking && me === 'pub-1' && rng.chance(0.03)) {
          ctx.forward();
          const kind = rng.pick(['c2b-duplicate', 'c2b-redirect', 'c2b-bitflip']);
          const change =
            kind === 'c2b-duplicate' ? {} : kind === 'c2b-redirect' ? { topic: p.topic.startsWith('cmd/') ? rng.pick(T1) : rng.pick(T2) } : { payload: flipBit(b, rng.int(b.length * 8)) };
          const written = { ...p, ...change };
          const key = `${hashOf(written.payload)}|${written.topic}`;
          const label = atk.c2bLabels.get(key) ?? { kind, copies: 0 };
          label.copies++;
          atk.c2bLabels.set(key, label);
          ctx.forward(change, { kind, attack: true });
          atk.injected++;
        }
      }
      return;
    }
    // Towards a client.
    if (!me) return;
    const key = `${hashOf(p.payload)}|${p.topic}`;
    const label = atk.c2bLabels.get(key);
    if (label) {
      // A broker-side copy (c2b-*): the first arrival of a duplicate is the original.
      const seenKey = `${key}|${ctx.conn.id}`;
      const seen = (atk.c2bSeen.get(seenKey) ?? 0) + 1;
      atk.c2bSeen.set(seenKey, seen);
      const isCopy = label.kind !== 'c2b-duplicate' || seen > 1;
      // The original goes through untouched (no delay: its copy must not overtake it).
      ctx.forward(undefined, isCopy ? { kind: label.kind, attack: true } : {});
      return;
    }
    const isData = !p.topic.startsWith(PREFIX) && (p.payload[0] === ENVELOPE_TYPE.group || p.payload[0] === ENVELOPE_TYPE.direct);
    const releasePrevious = atk.reorder.takeHeld(ctx.conn.id);
    if (!isData || !ledger.droppedFor.has(me)) {
      ctx.forward();
      releasePrevious?.();
      return;
    }
    // Honest data to a subscriber: the broker's games with it.
    let forwardedNow = false;
    const x = atk.attacking ? rng.float() : 1;
    if (x < 0.004) {
      ctx.drop({ kind: 'drop' });
      tally.action('drop');
      const h = ledger.byHash.get(key);
      if (h) ledger.droppedFor.get(me)!.add(h.id);
    } else if (x < 0.024) {
      atk.pendingHonest++;
      ctx.later(rng.range(5, 250), undefined, { kind: 'delay' });
      tally.action('delay');
    } else if (x < 0.044 && !releasePrevious) {
      atk.pendingHonest++;
      atk.reorder.hold(ctx, { kind: 'reorder' });
      tally.action('reorder');
    } else {
      ctx.forward();
      forwardedNow = true;
    }
    releasePrevious?.();
    if (!atk.attacking) return;
    if (atk.injected >= atk.attackTarget) {
      atk.launchPrepared(); // the re-signed ones still due (some wait for an expiry or a revocation)
      return;
    }
    // The attacks this honest message triggers.
    const n = atk.perEventTarget();
    for (let i = 0; i < n; i++) {
      const category = rng.weighted({ data: 70, direct: 7, grant: 6, request: 8, control: 8, prepared: 1 });
      if (category === 'data') {
        if (p.payload[0] === ENVELOPE_TYPE.group) atk.launch(dataAttack(atk, me, p, forwardedNow, ctx));
        else atk.launch(directAttack(atk, me));
      } else if (category === 'direct') atk.launch(directAttack(atk, rng.pick(['sub-1', 'sub-2'])));
      else if (category === 'grant') atk.launch(grantAttack(atk, rng.pick(['sub-1', 'sub-2'])));
      else if (category === 'request') atk.launch(requestAttack(atk));
      else if (category === 'control') atk.launch(controlAttack(atk));
      else atk.launchPrepared();
    }
    if (rng.chance(0.05)) atk.launchPrepared();
  });
}
