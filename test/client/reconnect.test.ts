// SecureMqttClient restarts over a running Mosquitto (TCP, 127.0.0.1), MQTT 5
// and 3.1.1, with persistent sessions: the broker keeps a client's
// subscriptions and queues its QoS 1 messages while it is away; the client
// process restarts (a new SecureMqttClient, same identity and client id) and
// must pick up where it left off.
// - A subscriber restarted with fresh in-memory state (the default storage)
//   gets the messages queued for it: it must learn the publishers'
//   certificates again and ask for keys, although the broker says "session
//   present".
// - A subscriber that dies while handling a message (after delivering it to
//   the application, before its PUBACK) and restarts with its storage gets the
//   message again from the broker; its persisted replay window drops it: the
//   application sees every message once.
// - A publisher restarted with its storage starts a new epoch and re-grants
//   its subscribers: the stream continues without loss or rejection.
import type { IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecureMqttClient, connectAsync, type MessageMeta, type SecurityEvent } from '../../src/client/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { makeFleet, str, text, until, type Fleet, type Member } from '../support/fleet.js';
import { startMosquitto, type MosquittoHarness } from '../support/mosquitto.js';

interface Received {
  topic: string;
  payload: string;
  meta: MessageMeta;
}

// A publisher answers one key request per subscriber per second (KeyManager's regrantIntervalMs, 1 s): a
// subscriber restarted within a second of its last grant would get its keys only when it asks again
// (keyRequestRetryMs, 5 s later). Restarts here wait this long first, to keep the file short.
const REGRANT_PAUSE_MS = 1_100;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let fleet: Fleet;
let broker: MosquittoHarness;
const clients: SecureMqttClient[] = [];

beforeAll(async () => {
  fleet = await makeFleet();
  broker = await startMosquitto();
});

afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  await broker?.close();
});

const versions = [
  { name: 'MQTT 5', protocolVersion: 5 as const, tag: 'r5' },
  { name: 'MQTT 3.1.1', protocolVersion: 4 as const, tag: 'r4' },
];

describe.each(versions)('SecureMqttClient restarts over Mosquitto ($name)', ({ protocolVersion, tag }) => {
  const session = (clientId: string): IClientOptions => ({
    protocolVersion,
    clean: false,
    clientId,
    reconnectPeriod: 250,
    connectTimeout: 10_000,
    ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  });

  /** Opens a client; every message, security event and error goes to `into`. */
  async function open(
    member: Member,
    clientId: string,
    into: { messages: Received[]; security: SecurityEvent[]; errors: Error[] },
    extra: Parameters<Member['options']>[0] = {},
  ): Promise<SecureMqttClient> {
    // Listeners before connect(): a resumed session's queued messages follow the CONNACK at once, before
    // connect() (or connectAsync) resolves.
    const client = new SecureMqttClient(broker.url, member.options({ timeouts: { connect: 20_000, publish: 30_000 }, ...extra, mqtt: session(clientId) }));
    clients.push(client);
    client.on('message', (topic, payload, meta) => into.messages.push({ topic, payload: str(payload), meta }));
    client.on('security', (e) => into.security.push(e));
    // After endAsync() a closing connection may still report (e.g. "write after end" for an acknowledgement of a
    // packet that arrived during the close): not a failure of the stream under test.
    client.on('error', (e) => ended.has(client) || into.errors.push(e));
    await client.connect();
    return client;
  }
  const ended = new Set<SecureMqttClient>();
  const end = async (client: SecureMqttClient, force = false): Promise<void> => {
    ended.add(client);
    await client.endAsync(force);
  };
  const sink = (): { messages: Received[]; security: SecurityEvent[]; errors: Error[] } => ({ messages: [], security: [], errors: [] });
  const payloads = (r: { messages: Received[] }): string[] => r.messages.map((m) => m.payload);
  const range = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `m${from + i}`);

  it('a subscriber restarted with fresh in-memory state gets the messages queued for its persistent session', async () => {
    const topic = `${tag}/fresh/data`;
    const pubLog = sink();
    const subLog = sink();
    const pub = await open(await fleet.member(`${tag}-fresh-pub`, { publish: [topic] }), `${tag}-fresh-pub`, pubLog);
    const subMember = await fleet.member(`${tag}-fresh-sub`, { subscribe: [`${tag}/fresh/#`] });
    const first = await open(subMember, `${tag}-fresh-sub`, subLog, { storage: new MemoryStorage() });
    await first.subscribeAsync(`${tag}/fresh/#`, { qos: 1 });
    for (let i = 0; i < 5; i++) await pub.publishAsync(topic, text(`m${i}`), { qos: 1 });
    await until(() => subLog.messages.length === 5, 'the first five', 30_000);
    await end(first); // the process goes away; the broker keeps its session
    await sleep(REGRANT_PAUSE_MS);

    for (let i = 5; i < 15; i++) await pub.publishAsync(topic, text(`m${i}`), { qos: 1 }); // queued for it
    const second = await open(subMember, `${tag}-fresh-sub`, subLog, { storage: new MemoryStorage() }); // nothing remembered
    await second.subscribeAsync(`${tag}/fresh/#`, { qos: 1 }); // as an application does at start
    for (let i = 15; i < 20; i++) await pub.publishAsync(topic, text(`m${i}`), { qos: 1 });
    await until(() => subLog.messages.length >= 20, 'all twenty messages', 20_000).catch((err: Error) => {
      throw new Error(`${err.message}: got [${payloads(subLog).join(',')}], security ${JSON.stringify(subLog.security.map((e) => e.code))}, stats ${JSON.stringify(second.stats())}`);
    });
    expect(payloads(subLog)).toEqual(range(0, 20));
    expect(subLog.security).toEqual([]);
    expect([...subLog.errors, ...pubLog.errors]).toEqual([]);
  });

  it('with connectAsync, messages queued for a persistent session reach a listener attached after the await', async () => {
    const topic = `${tag}/late/data`;
    const pubLog = sink();
    const pub = await open(await fleet.member(`${tag}-late-pub`, { publish: [topic] }), `${tag}-late-pub`, pubLog);
    const subMember = await fleet.member(`${tag}-late-sub`, { subscribe: [`${tag}/late/#`] });
    const storage = new MemoryStorage();
    const options = (): ReturnType<Member['options']> => subMember.options({ storage, mqtt: session(`${tag}-late-sub`) });
    const first = await connectAsync(broker.url, options());
    clients.push(first);
    const seen: string[] = [];
    first.on('message', (_t, payload) => seen.push(str(payload)));
    await first.subscribeAsync(`${tag}/late/#`, { qos: 1 });
    await pub.publishAsync(topic, text('m0'), { qos: 1 });
    await until(() => seen.length === 1, 'the first message', 30_000);
    await end(first);
    await sleep(REGRANT_PAUSE_MS);
    for (let i = 1; i < 6; i++) await pub.publishAsync(topic, text(`m${i}`), { qos: 1 }); // queued by the broker
    // The mqtt.js habit: connect, then attach listeners. The queued messages must not be lost meanwhile.
    const second = await connectAsync(broker.url, options());
    clients.push(second);
    second.on('message', (_t, payload) => seen.push(str(payload)));
    await until(() => seen.length >= 6, 'the five queued messages', 30_000);
    expect(seen).toEqual(range(0, 6));
    expect(pubLog.errors).toEqual([]);
  });

  it('a subscriber that dies before acknowledging a delivered message gets it again after a restart and drops it: once for the application', async () => {
    const topic = `${tag}/crash/data`;
    const pubLog = sink();
    const subLog = sink();
    const pub = await open(await fleet.member(`${tag}-crash-pub`, { publish: [topic] }), `${tag}-crash-pub`, pubLog);
    const subMember = await fleet.member(`${tag}-crash-sub`, { subscribe: [`${tag}/crash/#`] }); // storage kept across restarts
    const first = await open(subMember, `${tag}-crash-sub`, subLog);
    await first.subscribeAsync(`${tag}/crash/#`, { qos: 1 });
    // The "process" dies inside the application's handler of m4: the message was delivered, its PUBACK never goes out.
    first.on('message', (_t, payload) => {
      if (str(payload) === 'm4') {
        first.mqttClient!.stream.destroy();
        void end(first, true);
      }
    });
    for (let i = 0; i < 5; i++) await pub.publishAsync(topic, text(`m${i}`), { qos: 1 });
    await until(() => subLog.messages.length === 5, 'the first five', 30_000);
    await until(() => !first.connected, 'the first instance to be gone');
    await sleep(REGRANT_PAUSE_MS);
    for (let i = 5; i < 10; i++) await pub.publishAsync(topic, text(`m${i}`), { qos: 1 });

    const secondLog = sink();
    const second = await open(subMember, `${tag}-crash-sub`, secondLog);
    await second.subscribeAsync(`${tag}/crash/#`, { qos: 1 });
    await until(() => secondLog.messages.length >= 5, 'the five messages queued meanwhile', 20_000).catch((err: Error) => {
      throw new Error(`${err.message}: got [${payloads(secondLog).join(',')}], security ${JSON.stringify(secondLog.security.map((e) => e.message))}, stats ${JSON.stringify(second.stats())}`);
    });
    await pub.publishAsync(topic, text('m10'), { qos: 1 });
    await until(() => secondLog.messages.length >= 6, 'one more', 20_000);
    expect([...payloads(subLog), ...payloads(secondLog)]).toEqual(range(0, 11)); // m4 once, though the broker sent it twice
    // The redelivered m4 was an honest duplicate (its epoch key died with the first process, its sequence number
    // is in the stored replay window): counted as such, not a security event.
    expect(second.stats().duplicates).toBeGreaterThanOrEqual(1);
    expect(second.stats().rejected).toEqual({});
    expect(secondLog.security).toEqual([]);
    expect([...secondLog.errors, ...pubLog.errors]).toEqual([]);
  });

  it('a publisher restarted with its storage starts a new epoch and re-grants: the stream goes on without loss', async () => {
    const topic = `${tag}/pubre/data`;
    const pubLog = sink();
    const subLog = sink();
    const pubMember = await fleet.member(`${tag}-pubre-pub`, { publish: [topic] });
    const sub = await open(await fleet.member(`${tag}-pubre-sub`, { subscribe: [`${tag}/pubre/#`] }), `${tag}-pubre-sub`, subLog);
    await sub.subscribeAsync(`${tag}/pubre/#`, { qos: 1 });
    const first = await open(pubMember, `${tag}-pubre-pub`, pubLog);
    for (let i = 0; i < 10; i++) await first.publishAsync(topic, text(`m${i}`), { qos: 1 });
    await end(first);
    const second = await open(pubMember, `${tag}-pubre-pub`, pubLog);
    for (let i = 10; i < 20; i++) await second.publishAsync(topic, text(`m${i}`), { qos: 1 });
    await until(() => subLog.messages.length >= 20, 'all twenty messages', 20_000).catch((err: Error) => {
      throw new Error(`${err.message}: got [${payloads(subLog).join(',')}], security ${JSON.stringify(subLog.security.map((e) => e.message))}`);
    });
    expect(payloads(subLog)).toEqual(range(0, 20));
    const epochs = subLog.messages.map((m) => m.meta.epoch!);
    expect(epochs[10]).toBeGreaterThan(epochs[9]!); // a new epoch after the restart
    expect(subLog.security).toEqual([]);
    expect([...subLog.errors, ...pubLog.errors]).toEqual([]);
  });
});
