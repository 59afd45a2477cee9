// Bad input everywhere, at the client level. The parsers have their own
// property tests (test/fuzz); this drives the whole receive pipeline of live
// SecureMqttClients (mqtt.js, topic dispatch, control handlers, KeyManager,
// trust store, replay state) with random and half-valid bytes on every
// control topic and every data topic they listen to, sent by a raw MQTT client
// through a real Mosquitto, while honest traffic flows alongside:
// - every input comes to exactly the outcome the model gives (a security
//   event with its reason code, a silent duplicate, or nothing for inputs that
//   are no-ops by design), never a delivery;
// - no client error, no crash, no hang; both clients stay connected and every
//   honest message is delivered exactly once;
// - faults below the protocol: invalid MQTT frames and cut connections from
//   the broker's side make the client reconnect and carry on.
// BAD_INPUT_RUNS sets the number of random inputs (default 3,000); BAD_INPUT_SEED replays one.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init } from '../../bindings/index.js';
import { createAnnouncement } from '../../src/certs/announce.js';
import { SecureMqttClient } from '../../src/client/secure-client.js';
import { ENVELOPE_TYPE } from '../../src/protocol/envelope.js';
import { makeFleet, str, text, until, type Fleet, type Member } from '../support/fleet.js';
import { Rng, extend, flipBit, startMitmProxy, truncate, type MitmConnection, type MitmProxy } from '../support/mitm-proxy.js';
import { startMosquitto, type MosquittoHarness } from '../support/mosquitto.js';
import { ClientModel, Genuine, formatDelta, matches } from './model.js';
import { Observer, type Observation } from './observer.js';

const RUNS = Number(process.env.BAD_INPUT_RUNS ?? 3_000);
const SEED = Number(process.env.BAD_INPUT_SEED ?? 77);
const PREFIX = 'pqc-iiot/v1';

let broker: MosquittoHarness;
let proxy: MitmProxy;
let fleet: Fleet;
let raw: MqttClient;
const clients: SecureMqttClient[] = [];
/** What honest parties produced, across both tests (retained announcements of the first test's clients reach the second's). */
const genuine = new Genuine();
const certs = new Map<string, Member['certificate']>();
async function member(id: string, rights: { publish?: string[]; subscribe?: string[] }): Promise<Member> {
  const m = await fleet.member(id, rights);
  genuine.addSigned(m.certificate.bytes);
  certs.set(id, m.certificate);
  return m;
}

beforeAll(async () => {
  await init();
  broker = await startMosquitto({ maxQueued: 100_000 });
  proxy = await startMitmProxy({ brokerPort: broker.port });
  fleet = await makeFleet();
  raw = await mqtt.connectAsync(broker.url, { clientId: 'raw-attacker', protocolVersion: 5 });
  // Everything the honest clients send is genuine (the proxy sees it on its way in).
  proxy.onPublish((ctx) => {
    if (ctx.direction !== 'toBroker') return;
    const b = ctx.packet.payload;
    if (b[0] === ENVELOPE_TYPE.group) genuine.addGroup(b, ctx.packet.topic);
    else if (b.length > 0) genuine.addSigned(b);
  });
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await raw?.endAsync(true).catch(() => undefined);
  await proxy?.close();
  await broker?.close();
});

interface Setup {
  pub: SecureMqttClient;
  sub: SecureMqttClient;
  observers: Observer[];
  observations: Observation[];
  genuine: Genuine;
}

/** A publisher and a subscriber through the (passive) proxy, observed packet by packet against the model. */
async function setup(tag: string, members: { pub: Member; sub: Member }, mqttExtra: { keepalive?: number } = {}): Promise<Setup> {
  const observations: Observation[] = [];
  const observers: Observer[] = [];
  const open = async (m: Member, version: 4 | 5): Promise<SecureMqttClient> => {
    const clientId = `${m.identity.id}-${tag}`;
    const client = new SecureMqttClient(proxy.url, m.options({ mqtt: { clientId, protocolVersion: version, reconnectPeriod: 200, ...mqttExtra } }));
    const model = new ClientModel({ identity: m.identity, certificate: m.certificate, anchor: fleet.ca.trustAnchor, genuine, certificateOf: (s) => certs.get(s) });
    const observer = new Observer(m.identity.id, client, model, proxy, clientId, (o) => observations.push(o));
    observers.push(observer);
    const before = Date.now();
    model.starting(before); // the restart rule counts from the KeyManager's opening, inside connect()
    const connecting = client.connect();
    observer.start();
    await connecting;
    model.starting(before, Date.now());
    clients.push(client);
    return client;
  };
  const pub = await open(members.pub, 5);
  const sub = await open(members.sub, 4);
  return { pub, sub, observers, observations, genuine };
}

describe('bad input through a live client', () => {
  it(`${RUNS.toLocaleString('en')} random and half-valid messages on every control and data topic: only security events, honest traffic unaffected`, { timeout: 240_000 }, async () => {
    const pubM = await member('bi-pub', { publish: ['line/#', 'cmd/bi-sub'] });
    const subM = await member('bi-sub', { subscribe: ['line/#', 'cmd/bi-sub'] });
    const s = await setup('bi', { pub: pubM, sub: subM });
    await s.sub.subscribeAsync(['line/#', 'cmd/bi-sub'], { qos: 1 });
    await until(() => s.pub.certificateOf('bi-sub') !== undefined && s.sub.certificateOf('bi-pub') !== undefined, 'both clients to know each other', 20_000);

    // Material for half-valid inputs: real traffic captured by the raw client.
    const captured: { topic: string; payload: Uint8Array }[] = [];
    raw.on('message', (topic, payload) => {
      if (captured.length < 500) captured.push({ topic, payload: new Uint8Array(payload) });
    });
    await raw.subscribeAsync({ '#': { qos: 1 } });
    const honest: string[] = [];
    const sendHonest = async (): Promise<void> => {
      const i = honest.length;
      const direct = i % 5 === 4;
      const topic = direct ? 'cmd/bi-sub' : `line/${i % 2 ? 'a' : 'b'}`;
      const payload = `honest ${i}`;
      honest.push(payload);
      await s.pub.publishAsync(topic, text(payload), { qos: 1, ...(direct ? { to: 'bi-sub' } : {}) });
    };
    for (let i = 0; i < 10; i++) await sendHonest();
    await until(() => captured.some((c) => c.topic.startsWith(`${PREFIX}/grants/`)) && captured.filter((c) => c.topic.startsWith('line/')).length >= 5, 'traffic to capture', 20_000);
    // An announcement of a member that never connects, for the cert topics.
    const ghost = await member('bi-ghost', { publish: ['line/#'] });

    const rng = new Rng(SEED);
    const targets = ['bi-pub', 'bi-sub'];
    const topics = (): string => {
      const t = rng.pick(targets);
      return rng.pick([
        `${PREFIX}/certs/${t}`,
        `${PREFIX}/certs/${rng.pick(['bi-ghost', 'x', 'bi-pub', 'bi-sub'])}`,
        `${PREFIX}/crl`,
        `${PREFIX}/grants/${t}`,
        `${PREFIX}/key-requests/${t}`,
        `${PREFIX}/grants/nobody`,
        `${PREFIX}/${rng.pick(['x', 'certs', 'grants', 'key-requests/a/b'])}`,
        'line/a',
        'line/b',
        `line/${'z'.repeat(rng.range(1, 1200))}`,
        'cmd/bi-sub',
      ]);
    };
    let lastMutatedTopic: string | undefined;
    const payloadFor = (): Uint8Array => {
      const kind = rng.weighted({ random: 4, typed: 4, mutated: 6, huge: 0.02, zeros: 0.5, ones: 0.5, text: 0.5, empty: 0.3, ghost: 0.2 });
      switch (kind) {
        case 'random':
          return rng.bytes(rng.chance(0.8) ? rng.int(200) : rng.int(5000));
        case 'typed': {
          const type = rng.pick([0x44, 0x47, 0x4d, 0x51, 0x4e, 0x52, 0x43, 0x41, 0x49]);
          return extend(new Uint8Array([type, 1, 1, 1]), rng.bytes(rng.int(rng.chance(0.5) ? 100 : 3000)));
        }
        case 'mutated': {
          const picked = rng.pick(captured);
          lastMutatedTopic = picked.topic;
          const c = picked.payload;
          if (c.length === 0) return rng.bytes(10);
          const how = rng.int(4);
          if (how === 0) return flipBit(c, rng.int(c.length * 8));
          if (how === 1) return truncate(c, rng.range(1, c.length));
          if (how === 2) return extend(c, rng.bytes(rng.range(1, 40)));
          let out = c.slice();
          for (let i = rng.range(2, 20); i > 0; i--) out[rng.int(out.length)] = rng.int(256);
          return out;
        }
        case 'huge':
          return extend(rng.pick(captured).payload, new Uint8Array(1_200_000));
        case 'zeros':
          return new Uint8Array(rng.int(3000));
        case 'ones':
          return new Uint8Array(rng.int(3000)).fill(0xff);
        case 'text':
          return text(`{"cmd":"open","valve":${rng.int(100)},"note":"\u00e9\ud83d\ude00"}`);
        case 'empty':
          return new Uint8Array(0);
        case 'ghost': {
          const a = createAnnouncement(ghost.identity, ghost.certificate);
          s.genuine.addSigned(a);
          return a;
        }
      }
      return new Uint8Array(0);
    };

    const processed = (): number => s.observers.reduce((n, o) => n + o.processed, 0);
    let sent = 0;
    const pending: Promise<unknown>[] = [];
    const t0 = Date.now();
    for (let i = 0; i < RUNS; i++) {
      let topic = topics();
      const payload = payloadFor();
      if (lastMutatedTopic !== undefined && rng.chance(0.7)) topic = lastMutatedTopic;
      lastMutatedTopic = undefined;
      const qos = rng.chance(0.5) ? 1 : 0;
      // Retained inputs would greet every later connection: only on data topics here, cleared below.
      const retain = topic.startsWith('line/') && topic.length < 20 && rng.chance(0.05);
      // A bounded window of unacknowledged publishes (Mosquitto drops QoS 1 bursts beyond ~20).
      pending.push(raw.publishAsync(topic, Buffer.from(payload), { qos, retain }));
      sent++;
      if (pending.length >= 10) await Promise.all(pending.splice(0));
      if (i % 20 === 19) await sendHonest();
      if (i % 200 === 199) await until(() => processed() > 0 && proxy.connections.every((c) => c.backlog('toClient') === 0), 'the clients to keep up', 30_000);
    }
    await Promise.all(pending.splice(0));
    const t1 = Date.now();
    for (const t of ['line/a', 'line/b']) await raw.publishAsync(t, Buffer.alloc(0), { qos: 1, retain: true });
    for (let i = 0; i < 5; i++) await sendHonest();
    const expectedHonest = (): number => honest.length;
    await until(() => s.observers.find((o) => o.label === 'bi-sub')!.delivered.length >= expectedHonest(), 'every honest message', 30_000);
    await until(() => proxy.connections.every((c) => c.backlog('toClient') === 0 && c.publishedToClient === s.observations.filter((o) => o.conn === c.id).length), 'every input to be processed', 30_000);

    const mismatches = s.observations.filter((o) => !matches(o.prediction, o.observed));
    const describe = (o: Observation): string => `${o.label} ${o.topic.slice(0, 60)} (${o.bytes} B): expected ${o.prediction.outcome} [${formatDelta(o.prediction.delta)}], observed [${formatDelta(o.observed)}]`;
    const delivered = s.observers.find((o) => o.label === 'bi-sub')!.delivered.map((d) => str(d.payload));
    const outcomes: Record<string, number> = {};
    for (const o of s.observations) outcomes[o.prediction.outcome] = (outcomes[o.prediction.outcome] ?? 0) + 1;
    console.log(
      `bad input: ${sent} inputs, ${s.observations.length} packets processed by the two clients; outcomes ${JSON.stringify(outcomes)}; ` +
        `honest ${honest.length} sent, ${delivered.length} delivered; sending ${t1 - t0} ms, draining ${Date.now() - t1} ms`,
    );
    expect(mismatches.map(describe).slice(0, 20)).toEqual([]);
    expect([...delivered].sort()).toEqual([...honest].sort());
    expect(s.observers.flatMap((o) => o.errors)).toEqual([]);
    expect(s.observers.flatMap((o) => o.strayEvents.map((e) => e.code))).toEqual([]);
    expect(s.pub.connected && s.sub.connected).toBe(true);
  });

  it('broker-side faults below the protocol (invalid MQTT frames, cut connections): the client recovers and carries on', { timeout: 180_000 }, async () => {
    const pubM = await member('fx-pub', { publish: ['fx/#'] });
    const subM = await member('fx-sub', { subscribe: ['fx/#'] });
    const s = await setup('fx', { pub: pubM, sub: subM }, { keepalive: 3 });
    await s.sub.subscribeAsync('fx/#', { qos: 1 });
    await until(() => s.sub.certificateOf('fx-pub') !== undefined && s.pub.certificateOf('fx-sub') !== undefined, 'both clients to know each other', 20_000);
    const got = (): string[] => s.observers.find((o) => o.label === 'fx-sub')!.delivered.map((d) => str(d.payload));
    let n = 0;
    const send = async (): Promise<void> => {
      await s.pub.publishAsync('fx/a', text(`m${n++}`), { qos: 1 });
    };
    for (let i = 0; i < 5; i++) await send();
    await until(() => got().length >= 5, 'the first messages', 20_000);
    const faults: [string, (c: MitmConnection) => void][] = [
      ['reserved packet type 0', (c) => c.injectBytes('toClient', new Uint8Array([0x00, 0x00]), { kind: 'mqtt-reserved-type' })],
      ['PUBLISH with a truncated topic', (c) => c.injectBytes('toClient', new Uint8Array([0x30, 0x04, 0x00, 0x09, 0x61, 0x62]), { kind: 'mqtt-truncated-publish' })],
      ['invalid remaining length', (c) => c.injectBytes('toClient', new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]), { kind: 'mqtt-bad-length' })],
      ['connection cut', (c) => c.destroy()],
    ];
    const recovery: string[] = [];
    for (const [name, fault] of faults) {
      const conn = proxy.connectionOf('fx-sub-fx');
      expect(conn, name).toBeDefined();
      const t0 = Date.now();
      const before = got().length;
      fault(conn!);
      await new Promise((r) => setTimeout(r, 200));
      // Whatever the client's MQTT layer makes of it (ignore the frame, or drop the connection and
      // reconnect), messages must flow again; a clean session loses what was published while it was away.
      const deadline = Date.now() + 60_000;
      let ok = false;
      while (!ok && Date.now() < deadline) {
        if (s.sub.connected) await send().catch(() => undefined);
        ok = await until(() => got().length > before, 'a message after the fault', 1_500).then(
          () => true,
          () => false,
        );
      }
      expect(ok, `messages flow again after: ${name}`).toBe(true);
      recovery.push(`${name}: ${Date.now() - t0} ms, ${proxy.connectionOf('fx-sub-fx') === conn ? 'same connection' : 'reconnected'}`);
    }
    console.log(`recovery after broker-side faults: ${recovery.join('; ')}`);
    const names = got();
    expect(new Set(names).size, 'no message delivered twice').toBe(names.length);
    expect(s.pub.connected && s.sub.connected).toBe(true);
    expect(s.observations.filter((o) => !matches(o.prediction, o.observed)).map((o) => `${o.label} ${o.topic} (${o.bytes} B): expected ${o.prediction.outcome} [${formatDelta(o.prediction.delta)}], observed [${formatDelta(o.observed)}]`)).toEqual([]);
    expect(s.observers.flatMap((o) => o.strayEvents.map((e) => e.code))).toEqual([]);
  });
});
