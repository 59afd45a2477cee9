// The honest stream of the amortised-mode run and the pauses between phases:
// pub-1 and pub-2 (half as often) publish amortised messages, pub-1 also
// retained state (sealed signed), each recorded in the ledger before it
// leaves; publishing waits while the subscribers lag behind. A pause
// (quiesce) stops the attacks, waits for the proxy's delayed writes, then
// sends each subscriber a sentinel (a no-op on an unknown reserved topic)
// whose start closes the last packet's bucket.

import type { SecureMqttClient } from '../../../src/client/secure-client.js';
import { honestPayload, sleep, untilFor } from '../harness.js';
import { PREFIX, T1, T1_RETAINED, T2, mqttClientId } from '../plant.js';
import type { Accounting } from './accounting.js';
import type { Attacker } from './attacker.js';
import type { AmortisedClients } from './clients.js';
import { SUBS } from './fleet.js';

export const until = untilFor('amortised hostile');

const SENTINEL_TOPIC = `${PREFIX}/sentinel`;

export class Publishing {
  gateOpen = true;

  constructor(
    readonly atk: Attacker,
    readonly accounting: Accounting,
    readonly clients: AmortisedClients,
    readonly pub1: SecureMqttClient,
    readonly pub2: SecureMqttClient,
  ) {}

  async publishOne(who: 'pub-1' | 'pub-2'): Promise<void> {
    const { rng, ledger } = this.atk;
    const { honest } = ledger;
    const id = honest.length;
    const client = who === 'pub-1' ? this.pub1 : this.pub2;
    const signed = who === 'pub-1' && id % 25 === 7;
    const topic = signed ? T1_RETAINED : rng.pick(who === 'pub-1' ? T1 : T2);
    const payload = honestPayload(rng, id, who, topic, 200);
    honest.push({ id, sender: who, topic, payload, afterArming: this.accounting.armed });
    ledger.pendingPublish.get(who)!.push(id);
    await client.publishAsync(topic, payload, { qos: signed || rng.chance(0.85) ? 1 : 0, retain: signed });
  }

  /** Packets the proxy wrote (or queued) towards the subscribers that they have not started on yet. */
  backlog(): number {
    let n = 0;
    for (const [id, o] of this.clients.observers) {
      const c = this.atk.proxy.connectionOf(mqttClientId(id));
      if (c) n += c.publishedToClient + c.backlog('toClient') - o.started;
    }
    return n;
  }

  /** Both publishers at once, pub-2 at half the rate, until `done`. */
  async publishUntil(done: () => boolean): Promise<void> {
    const { rng } = this.atk;
    const loop = async (who: 'pub-1' | 'pub-2', share: number): Promise<void> => {
      while (!done()) {
        while (!this.gateOpen || this.backlog() > 400) await sleep(5);
        if (rng.float() < share) await this.publishOne(who);
        else await sleep(1);
      }
    };
    await Promise.all([loop('pub-1', 1), loop('pub-2', 0.5)]);
  }

  async sentinel(): Promise<void> {
    for (const id of SUBS) {
      const o = this.clients.observers.get(id)!;
      const want = o.sentinels + 1;
      const conn = this.atk.proxy.connectionOf(mqttClientId(id))!;
      conn.inject('toClient', { topic: SENTINEL_TOPIC, payload: new Uint8Array(0), qos: 1 }, { kind: 'sentinel', attack: true });
      await until(() => o.sentinels >= want, `${id} to reach the sentinel`, 30_000);
    }
  }

  async quiesce(what: string): Promise<void> {
    const atk = this.atk;
    atk.attacking = false;
    await until(() => atk.pendingWrites === 0 && atk.manifestFirst.size === 0, `${what}: the proxy's delayed writes`, 20_000);
    // Late manifests may still be on their way: pendingWrites counts them.
    await this.sentinel();
    await until(() => this.backlog() === 0, `${what}: every subscriber to start on what it was sent`, 30_000);
  }
}
