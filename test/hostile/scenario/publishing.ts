// The honest stream of the signed-mode run and the pauses between phases:
// pub-1 (three quarters) and pub-2 publish group messages, pub-1 also
// commands to one subscriber and retained state, each recorded in the ledger
// before it leaves; publishing waits while the clients lag behind. A pause
// (quiesce) stops the attacks and the stream and waits until every client
// has processed everything the proxy wrote to it.

import type { SecureMqttClient } from '../../../src/client/secure-client.js';
import { honestPayload, sleep, untilFor } from '../harness.js';
import { T1, T1_RETAINED, T2 } from '../plant.js';
import type { Accounting } from './accounting.js';
import type { Attacker } from './attacker.js';
import type { HonestLedger } from './honest.js';
import type { Honest } from './types.js';

export const until = untilFor('hostile');

export class Publishing {
  /** Honest messages published (acknowledged by the broker). */
  sent = 0;
  /** Closed while a phase change must not see new honest traffic. */
  gateOpen = true;
  publishing = false;

  constructor(
    readonly ledger: HonestLedger,
    readonly atk: Attacker,
    readonly accounting: Accounting,
    readonly pub: SecureMqttClient,
    readonly pubB: SecureMqttClient,
  ) {}

  async publishOne(): Promise<void> {
    const { rng } = this.atk;
    const { honest, pendingPublish } = this.ledger;
    const id = honest.length;
    const fromP1 = rng.chance(0.75);
    const who = fromP1 ? 'pub-1' : 'pub-2';
    const client = fromP1 ? this.pub : this.pubB;
    let topic: string;
    let to: string[];
    let direct: string | undefined;
    let retain = false;
    if (fromP1 && id % 10 === 7) {
      direct = rng.pick(['sub-1', 'sub-2']);
      topic = `cmd/${direct}`;
      to = [direct];
    } else if (fromP1 && id % 50 === 13) {
      topic = T1_RETAINED;
      retain = true;
      to = ['sub-1', 'sub-2'];
    } else {
      topic = rng.pick(fromP1 ? T1 : T2);
      to = ['sub-1', 'sub-2'];
    }
    const payload = honestPayload(rng, id, who, topic, 300);
    const h: Honest = { id, sender: who, topic, payload, to };
    honest.push(h);
    let q = pendingPublish.get(who);
    if (!q) pendingPublish.set(who, (q = []));
    q.push({ id, topic });
    await client.publishAsync(topic, payload, { qos: 1, retain, ...(direct ? { to: direct } : {}) });
    this.sent++;
  }

  /** Packets the proxy wrote (or queued) towards the clients that they have not processed yet. */
  backlog(): number {
    let written = 0;
    let processed = 0;
    for (const c of this.atk.proxy.connections) {
      written += c.publishedToClient + c.backlog('toClient');
      processed += this.accounting.processedByConn.get(c.id) ?? 0;
    }
    return written - processed;
  }

  async publishUntil(done: () => boolean): Promise<void> {
    this.publishing = true;
    try {
      while (!done()) {
        while (!this.gateOpen) await sleep(5);
        while (this.backlog() > 600) await sleep(5);
        await this.publishOne();
      }
    } finally {
      this.publishing = false;
    }
  }

  /** Nothing withheld, nothing being re-signed, and every client has processed all it was written. */
  readonly caughtUp = (): boolean => {
    if (this.atk.pendingHonest > 0 || this.atk.preparedBusy) return false;
    for (const c of this.atk.proxy.connections) {
      if (c.backlog('toClient') > 0) return false;
      if ((this.accounting.processedByConn.get(c.id) ?? 0) !== c.publishedToClient) return false;
    }
    return true;
  };

  async quiesce(what: string): Promise<void> {
    this.atk.attacking = false;
    this.gateOpen = false;
    await until(() => !this.publishing || this.gateOpen === false, what, 5_000);
    await sleep(150);
    await until(this.caughtUp, `${what}: every client to process what it was sent`, 60_000);
    await sleep(150);
    await until(this.caughtUp, `${what}: every client to process what it was sent`, 60_000);
  }
}
