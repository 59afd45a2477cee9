// SecureMqttClient end to end through a real Mosquitto (Debian's 2.0.11, TCP on
// 127.0.0.1, started by test/support/mosquitto.ts), once with MQTT 5 and once
// with MQTT 3.1.1: fan-out with wildcards, QoS 0/1/2 pass-through, a retained
// message, commands (direct envelopes), and a QoS 1 stream that survives a
// SIGTERM restart, a SIGKILL restart and a dropped subscriber connection with
// every message delivered exactly once and in order.
//
// What the restart test can honestly demand (see test/support/mosquitto.ts):
// - SIGTERM: Mosquitto saves its whole state on a clean exit, so everything it
//   acknowledged survives. The stream runs through the outage unhindered.
// - SIGKILL: Mosquitto 2.0.11 has no write-ahead log and sends PUBACK before
//   the save at the end of the loop iteration; a message it PUBACKed right
//   before a SIGKILL can be lost by the broker itself (measured: the last of a
//   burst, 24 of 30 trials). Nothing a client can do about that (the PUBACK was
//   the broker's promise), so the test arranges that no acknowledged message is
//   at risk: it pauses the stream until every publish is acknowledged, runs a
//   "save fence" (a QoS 1 round trip on another connection: its PUBACK comes
//   from a later loop iteration, after the save of the earlier ones), freezes
//   the broker with SIGSTOP, lets the publisher write a full window of new
//   publishes into the frozen broker's socket (unacknowledged, so still the
//   client's responsibility), then SIGKILLs and restarts it. Every publish the
//   SDK reported as acknowledged must then be delivered; the ones in flight
//   must be resent by the client after the reconnect. (Without the fence and
//   the freeze, i.e. SIGKILL into the running stream, this test failed in 1 of
//   3 runs here, each time missing exactly the last message Mosquitto had
//   acknowledged before the kill: the broker's loss, not the SDK's.)
// - A subscriber connection dropped while a message is being handled (before
//   its PUBACK): the broker redelivers it after the reconnect and the SDK's
//   replay window drops the copy as DUPLICATE (counted, not reported).
// - Order, hop by hop (test/support/wire-order.ts): the publisher writes in
//   sequence order (resends too), the subscriber delivers in the order its
//   connection read the messages. End to end in order whenever the broker kept
//   it: Mosquitto 2.0.11 sometimes delivers a reconnecting subscriber's
//   messages out of order (seen in 3 runs of 80 under CPU load; sequence
//   number 69 read before 68 right after the SIGTERM restart, though written
//   in order on one connection; 192 before 190 and 191 redelivered after the
//   dropped connection), against MQTT-4.6.0-6 and beyond any client's repair.
// The publisher rotates its group key every 40 messages, so grants cross the
// outages too.
import mqtt from 'mqtt';
import type { IClientOptions } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionError, SecureMqttClient, type MessageMeta, type SecurityEvent } from '../../src/client/index.js';
import { PublishTracker } from '../support/publish-tracker.js';
import { WireOrder } from '../support/wire-order.js';
import { makeFleet, str, text, until, type Fleet, type Member } from '../support/fleet.js';
import { startMosquitto, type MosquittoHarness } from '../support/mosquitto.js';

interface Received {
  topic: string;
  payload: string;
  meta: MessageMeta;
}

interface Log {
  messages: Received[];
  security: SecurityEvent[];
  errors: Error[];
  connects: boolean[]; // sessionPresent of every 'connect' (the first connection's included)
  reconnects: number;
  offlines: number;
}

function record(client: SecureMqttClient): Log {
  const log: Log = { messages: [], security: [], errors: [], connects: [], reconnects: 0, offlines: 0 };
  client.on('message', (topic, payload, meta) => log.messages.push({ topic, payload: str(payload), meta }));
  client.on('security', (event) => log.security.push(event));
  client.on('error', (err) => log.errors.push(err));
  client.on('connect', ({ sessionPresent }) => log.connects.push(sessionPresent));
  client.on('reconnect', () => log.reconnects++);
  client.on('offline', () => log.offlines++);
  return log;
}

/** Resolves like `p`, or rejects naming `what` after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out (${ms} ms) waiting for ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Orders "i:n" payloads by message number i. */
const byMessageNumber = (a: string, b: string): number => Number(a.split(':')[0]) - Number(b.split(':')[0]);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Mosquitto with autosave_interval 1 + autosave_on_changes saves at the end of
 * the loop iteration that handled a change; a QoS 1 round trip started after
 * the last PUBACK we saw is handled in a later iteration, so once its PUBACK
 * is back every earlier acknowledged change is on disk.
 */
async function saveFence(url: string): Promise<void> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, clientId: `fence-${process.pid}-${Date.now()}` });
  try {
    await c.publishAsync('fence/x', 'fence', { qos: 1 });
  } finally {
    await c.endAsync(true);
  }
}

const versions = [
  { name: 'MQTT 5', protocolVersion: 5 as const, tag: 'v5' },
  { name: 'MQTT 3.1.1', protocolVersion: 4 as const, tag: 'v4' },
];

let fleet: Fleet;
let broker: MosquittoHarness;
const clients: SecureMqttClient[] = [];
const logs: Log[] = [];

beforeAll(async () => {
  fleet = await makeFleet();
  broker = await startMosquitto();
});

afterEach(() => {
  // Outside the restart test nothing may go wrong inside a client, and nothing honest is a security event.
  const failures = logs.splice(0).flatMap((l) => l.errors.map((e) => `${e.name}: ${e.message}`));
  expect(failures).toEqual([]);
});

afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  await broker?.close();
});

describe.each(versions)('SecureMqttClient over Mosquitto ($name)', ({ protocolVersion, tag }) => {
  const mqttOptions = (extra: IClientOptions = {}): IClientOptions => ({ protocolVersion, reconnectPeriod: 250, connectTimeout: 10_000, ...extra });

  async function open(member: Member, extra: Parameters<Member['options']>[0] = {}, url = broker.url): Promise<{ client: SecureMqttClient; log: Log }> {
    // Listeners first: with a persistent session, queued messages may come before connect() resolves.
    const client = new SecureMqttClient(url, member.options({ ...extra, mqtt: mqttOptions(extra.mqtt) }));
    clients.push(client);
    const log = record(client);
    logs.push(log);
    await client.connect();
    return { client, log };
  }

  it('fans out to subscribers with wildcards, exactly once and in order', async () => {
    // A channel is one publish filter of the publisher, and a subscriber gets a channel's key only if its rights
    // cover the whole channel: one channel per topic here, each wildcard subscription spans several.
    const topics = [`${tag}/plant/line1/temp`, `${tag}/plant/line2/temp`, `${tag}/plant/line1/pressure`, `${tag}/plant/line2/pressure`];
    const sensor = await fleet.member(`${tag}-sensor`, { publish: topics });
    const filters = [`${tag}/plant/#`, `${tag}/plant/+/temp`, `${tag}/plant/line1/temp`, `${tag}/+/line2/+`];
    const pub = await open(sensor);
    const subs = await Promise.all(filters.map(async (f, i) => open(await fleet.member(`${tag}-dash-${i}`, { subscribe: [f] }))));
    await Promise.all(subs.map((s, i) => s.client.subscribeAsync(filters[i]!, { qos: 1 })));

    const sent: { topic: string; payload: string }[] = [];
    for (let i = 0; i < 40; i++) {
      const topic = topics[i % topics.length]!;
      sent.push({ topic, payload: `m${i}` });
      await pub.client.publishAsync(topic, text(`m${i}`), { qos: 1 });
    }
    // Last messages (one per line, each subscriber gets one of them): once a subscriber has its last
    // expected message, everything before it arrived (in order), duplicates included.
    for (const [topic, payload] of [[`${tag}/plant/line1/temp`, 'end-1'], [`${tag}/plant/line2/temp`, 'end-2']] as const) {
      sent.push({ topic, payload });
      await pub.client.publishAsync(topic, text(payload), { qos: 1 });
    }
    const expected = filters.map((f) => sent.filter((m) => topicMatches(f, m.topic)));
    await until(() => subs.every((s, i) => s.log.messages.some((m) => m.payload === expected[i]!.at(-1)!.payload)), 'every subscriber to get its last message', 30_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${subs.map((s) => `[${s.log.messages.map((m) => m.payload).join(',')}] ${JSON.stringify(s.log.security.map((e) => e.message))} ${JSON.stringify(s.client.stats())}`).join('\n')}`);
    });
    subs.forEach((s, i) => {
      expect(s.log.messages.map((m) => ({ topic: m.topic, payload: m.payload }))).toEqual(expected[i]);
      expect(s.log.messages.every((m) => m.meta.sender === `${tag}-sensor` && m.meta.kind === 'group' && m.meta.qos === 1 && !m.meta.retained)).toBe(true);
      expect(s.log.security).toEqual([]);
      expect(s.client.stats().duplicates).toBe(0);
    });
    expect(expected.map((e) => e.length)).toEqual([42, 22, 11, 21]);
    expect(pub.log.security).toEqual([]);
  });

  it('passes QoS 0, 1 and 2 through: meta.qos is the delivered QoS', async () => {
    const pub = await open(await fleet.member(`${tag}-qos-pub`, { publish: [`${tag}/qos/#`] }));
    const at2 = await open(await fleet.member(`${tag}-qos-sub2`, { subscribe: [`${tag}/qos/#`] }));
    const at1 = await open(await fleet.member(`${tag}-qos-sub1`, { subscribe: [`${tag}/qos/#`] }));
    await at2.client.subscribeAsync(`${tag}/qos/#`, { qos: 2 });
    await at1.client.subscribeAsync(`${tag}/qos/#`, { qos: 1 });
    // Keys first (a first message may wait for its grant), so that QoS 0 is not at the mercy of key distribution.
    await pub.client.publishAsync(`${tag}/qos/x`, text('warm-up'), { qos: 2 });
    await until(() => at2.log.messages.length === 1 && at1.log.messages.length === 1, 'the warm-up message', 30_000);
    // The warm-up usually waits for its key (held, then released): it keeps the QoS it was delivered with.
    expect([at2.log.messages[0]!.meta.qos, at1.log.messages[0]!.meta.qos]).toEqual([2, 1]);
    for (const qos of [0, 1, 2] as const) await pub.client.publishAsync(`${tag}/qos/x`, text(`q${qos}`), { qos });
    await until(() => at2.log.messages.length === 4 && at1.log.messages.length === 4, 'the QoS 0, 1 and 2 messages', 30_000);
    expect(at2.log.messages.slice(1).map((m) => [m.payload, m.meta.qos])).toEqual([['q0', 0], ['q1', 1], ['q2', 2]]);
    expect(at1.log.messages.slice(1).map((m) => [m.payload, m.meta.qos])).toEqual([['q0', 0], ['q1', 1], ['q2', 1]]);
    expect([...at1.log.security, ...at2.log.security]).toEqual([]);
  });

  it('delivers a retained message to a later subscriber once, marked retained; live traffic follows', async () => {
    const pub = await open(await fleet.member(`${tag}-ret-pub`, { publish: [`${tag}/ret/#`] }));
    await pub.client.publishAsync(`${tag}/ret/state`, text('last-known'), { qos: 1, retain: true });
    const sub = await open(await fleet.member(`${tag}-ret-sub`, { subscribe: [`${tag}/ret/#`] }));
    await sub.client.subscribeAsync(`${tag}/ret/#`, { qos: 1 });
    await until(() => sub.log.messages.length >= 1, 'the retained message', 30_000);
    await pub.client.publishAsync(`${tag}/ret/state`, text('live'), { qos: 1 });
    await until(() => sub.log.messages.length >= 2, 'the live message', 30_000);
    expect(sub.log.messages.map((m) => [m.payload, m.meta.retained, m.meta.sender])).toEqual([
      ['last-known', true, `${tag}-ret-pub`],
      ['live', false, `${tag}-ret-pub`],
    ]);
    expect(sub.log.security).toEqual([]);
  });

  it('carries commands for one recipient (direct envelopes) that another subscriber cannot read', async () => {
    const operator = await open(await fleet.member(`${tag}-operator`, { publish: [`${tag}/cmd/#`] }));
    const valve = await open(await fleet.member(`${tag}-valve`, { subscribe: [`${tag}/cmd/valve`] }));
    const nosy = await open(await fleet.member(`${tag}-nosy`, { subscribe: [`${tag}/cmd/#`] }));
    await valve.client.subscribeAsync(`${tag}/cmd/valve`, { qos: 2 });
    await nosy.client.subscribeAsync(`${tag}/cmd/#`, { qos: 1 });
    await until(() => operator.client.certificateOf(`${tag}-valve`) !== undefined, "the operator to learn the valve's certificate", 30_000);
    await operator.client.publishAsync(`${tag}/cmd/valve`, text('{"open":true}'), { qos: 1, to: `${tag}-valve` });
    await operator.client.publishAsync(`${tag}/cmd/valve`, text('{"open":false}'), { qos: 2, to: `${tag}-valve` });
    await until(() => valve.log.messages.length === 2, 'both commands', 30_000);
    expect(valve.log.messages.map((m) => ({ topic: m.topic, payload: m.payload, sender: m.meta.sender, kind: m.meta.kind, qos: m.meta.qos }))).toEqual([
      { topic: `${tag}/cmd/valve`, payload: '{"open":true}', sender: `${tag}-operator`, kind: 'direct', qos: 1 },
      { topic: `${tag}/cmd/valve`, payload: '{"open":false}', sender: `${tag}-operator`, kind: 'direct', qos: 2 },
    ]);
    await until(() => nosy.log.security.length === 2, 'the other subscriber to refuse both', 30_000);
    expect(nosy.log.messages).toEqual([]);
    expect(nosy.log.security.map((e) => e.code)).toEqual(['WRONG_RECIPIENT', 'WRONG_RECIPIENT']);
    expect(valve.log.security).toEqual([]);
  });

  it('streams 200 QoS 1 messages through a SIGTERM restart, a SIGKILL restart and a dropped subscriber: each exactly once, in order', async () => {
    const N = 200;
    const MAX_OUTSTANDING = 32; // the SDK itself bounds unacknowledged publishes at 16 (maxInflight)
    const persistent = await startMosquitto({ persistence: true });
    let frozen = false;
    try {
      const session = (clientId: string): IClientOptions => ({
        clean: false,
        clientId,
        reconnectPeriod: 200,
        ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      });
      const timeouts = { connect: 20_000, publish: 60_000, subscribe: 20_000 };
      const topic = `${tag}/rs/data`;
      const pub = await open(await fleet.member(`${tag}-rs-pub`, { publish: [`${tag}/rs/#`] }), { timeouts, rotation: { afterMessages: 40 }, mqtt: session(`${tag}-rs-pub`) }, persistent.url);
      const sub = await open(await fleet.member(`${tag}-rs-sub`, { subscribe: [`${tag}/rs/#`] }), { timeouts, mqtt: session(`${tag}-rs-sub`) }, persistent.url);
      logs.splice(logs.indexOf(pub.log), 1);
      logs.splice(logs.indexOf(sub.log), 1);
      await sub.client.subscribeAsync(`${tag}/rs/#`, { qos: 1 });
      await pub.client.publishAsync(topic, text('warm-up'), { qos: 1 });
      await until(() => sub.log.messages.length === 1, 'the warm-up message (keys established)', 30_000);

      // The subscriber drops its own connection while handling this message, before its PUBACK.
      let dropAt = -1;
      let dropped = false;
      sub.client.on('message', (_t, payload) => {
        if (!dropped && dropAt >= 0 && Number(str(payload).split(':')[0]) >= dropAt) {
          dropped = true;
          sub.client.mqttClient!.stream.destroy();
        }
      });

      // Each hop's order, from the packets themselves (see test/support/wire-order.ts).
      const wrote = WireOrder.publisher(pub.client.mqttClient!, topic);
      const read = WireOrder.subscriber(sub.client.mqttClient!, topic);
      const seenBefore = new Set(sub.log.messages.map((m) => m.meta.seq)); // the warm-up

      const tracker = new PublishTracker((payload) => pub.client.publishAsync(topic, text(payload), { qos: 1 }));
      const attempts = tracker.attempts;
      const send = (i: number): void => tracker.send(i);
      const diagnose = (): string =>
        `outstanding ${tracker.outstanding}, delivered ${sub.log.messages.length}, pub connected ${pub.client.connected}, sub connected ${sub.client.connected}\n` +
        `pub errors: ${pub.log.errors.map((e) => e.message).join('; ')}\nsub errors: ${sub.log.errors.map((e) => e.message).join('; ')}\n` +
        `broker log (tail):\n${persistent.log().slice(-3000)}`;
      const wait = async (predicate: () => boolean, what: string, ms = 30_000): Promise<void> => {
        try {
          await until(predicate, what, ms);
        } catch (err) {
          throw new Error(`${(err as Error).message}\n${diagnose()}`);
        }
      };

      let sigterm: Promise<void> | undefined;
      let sigkill: Promise<void> | undefined;
      for (let i = 0; i < N; i++) {
        if (i === 50) {
          // SIGTERM (a final save) and start again, while the publisher keeps publishing.
          sigterm = persistent.restart();
          sigterm.catch(() => undefined); // awaited below; not unhandled if the test fails before
        }
        if (i === 110) {
          await within(sigterm!, 30_000, 'the SIGTERM restart');
          await wait(() => pub.client.connected && sub.client.connected && tracker.outstanding === 0, 'both clients back and every publish acknowledged');
          await saveFence(persistent.url);
          process.kill(persistent.pid, 'SIGSTOP');
          frozen = true;
          sigkill = (async () => {
            // A full window goes into the frozen broker's socket, unacknowledged; then SIGKILL.
            await wait(() => tracker.outstanding >= MAX_OUTSTANDING, 'the publisher to fill its window while the broker is frozen');
            await persistent.kill9();
            frozen = false;
            await persistent.restart();
          })();
          sigkill.catch(() => undefined); // awaited below
        }
        if (i === 170) {
          await within(sigkill!, 30_000, 'the SIGKILL restart');
          dropAt = i;
        }
        if (tracker.outstanding >= MAX_OUTSTANDING) await wait(() => tracker.outstanding < MAX_OUTSTANDING, `room to publish message ${i}`, 45_000);
        send(i);
      }
      await wait(() => tracker.outstanding === 0, 'every publish to settle', 45_000);

      // A publish that was rejected (none is expected) may be retried: it is a new message to the SDK.
      for (const [i, list] of attempts) {
        for (let k = 0; k < 3 && !list.some((a) => a.state === 'resolved'); k++) {
          send(i);
          await wait(() => tracker.outstanding === 0, `the retry of message ${i}`, 45_000);
        }
      }
      const rejected = tracker.all().filter((a) => a.state === 'rejected');
      for (const [i, list] of attempts) expect(list.some((a) => a.state === 'resolved'), `message ${i} acknowledged`).toBe(true);

      // The last message: everything before it arrived first (in order).
      await pub.client.publishAsync(topic, text('end'), { qos: 1 });
      await wait(() => sub.log.messages.some((m) => m.payload === 'end'), 'the last message');

      const delivered = sub.log.messages.slice(1, -1); // without the warm-up and the end marker
      const counts = new Map<string, number>();
      for (const m of delivered) counts.set(m.payload, (counts.get(m.payload) ?? 0) + 1);
      const all = tracker.all();
      const unknown = [...counts.keys()].filter((p) => !all.some((a) => a.payload === p));
      expect(unknown, 'deliveries of payloads never published').toEqual([]);
      for (const a of all) {
        if (a.state === 'resolved') expect(counts.get(a.payload) ?? 0, `deliveries of acknowledged message ${a.payload}`).toBe(1);
        else expect(counts.get(a.payload) ?? 0, `deliveries of rejected message ${a.payload}`).toBeLessThanOrEqual(1);
      }
      // In order, hop by hop: the publisher wrote every connection's publishes (resends included) in sequence order;
      // the subscriber delivered in the order its connection read them, each once. Then, unless the broker itself
      // reordered (Mosquitto 2.0.11 may, redelivering after a reconnect: docs/RELIABILITY.md), the sequence numbers
      // only grow end to end; without retries that is the publishing order.
      expect(wrote.backwardsWrites(), 'publisher writes out of sequence order').toEqual([]);
      const seqs = sub.log.messages.map((m) => m.meta.seq);
      expect(seqs.filter((s) => !seenBefore.has(s)), 'deliveries in the order the subscriber read them').toEqual(read.firstArrivals().filter((s) => !seenBefore.has(s)));
      const brokerReorders = read.brokerReorders();
      if (brokerReorders.length === 0) {
        expect(seqs.every((s, k) => k === 0 || s > seqs[k - 1]!), `sequence numbers in arrival order: ${seqs.join(',')}`).toBe(true);
        if (rejected.length === 0) expect(delivered.map((m) => m.payload)).toEqual(Array.from({ length: N }, (_, i) => `${i}:0`));
      } else if (rejected.length === 0) {
        expect(delivered.map((m) => m.payload).sort(byMessageNumber)).toEqual(Array.from({ length: N }, (_, i) => `${i}:0`));
      }
      expect(new Set(sub.log.messages.map((m) => m.meta.epoch)).size).toBeGreaterThanOrEqual(5); // rotations every 40 messages

      // Reconnected (SIGTERM and SIGKILL restarts for both; the dropped connection for the subscriber), sessions kept.
      // ('connect' comes once the control traffic of the new connection is done: queued messages may come first.)
      await wait(() => pub.log.connects.length >= 3 && sub.log.connects.length >= 4, "the clients' 'connect' events");
      expect(pub.log.reconnects).toBeGreaterThanOrEqual(2);
      expect(sub.log.reconnects).toBeGreaterThanOrEqual(3);
      expect([pub.log.connects[0], sub.log.connects[0]]).toEqual([false, false]); // new sessions
      expect([...pub.log.connects.slice(1), ...sub.log.connects.slice(1)].every((present) => present)).toBe(true); // resumed
      expect(dropped).toBe(true);
      // The message being handled when the subscriber's connection dropped came again and was dropped as a duplicate.
      expect(sub.client.stats().duplicates).toBeGreaterThanOrEqual(1);
      expect(sub.log.security).toEqual([]);
      expect(pub.log.security).toEqual([]);
      expect(sub.client.stats().rejected).toEqual({});
      // Only connection trouble while the broker was away; nothing else went wrong inside the clients.
      const unexpected = [...pub.log.errors, ...sub.log.errors].filter((e) => !(e instanceof ConnectionError));
      expect(unexpected.map((e) => `${e.name}: ${e.message}`)).toEqual([]);

      // Still usable: a new subscription and a new message.
      await sub.client.subscribeAsync(`${tag}/rs/after`, { qos: 1 });
      await pub.client.publishAsync(`${tag}/rs/after`, text('after'), { qos: 1 });
      await wait(() => sub.log.messages.some((m) => m.payload === 'after'), 'a message after everything');
      expect(sub.log.messages.filter((m) => m.payload === 'after')).toHaveLength(1);
      await pub.client.endAsync();
      await sub.client.endAsync();
    } finally {
      if (frozen) process.kill(persistent.pid, 'SIGCONT');
      await persistent.close();
    }
  });
});

/** MQTT topic matching for the test's expectations ('+' one level, '#' the rest). */
function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}
