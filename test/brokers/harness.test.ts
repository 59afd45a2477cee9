// Real-broker harnesses: mqtt.js 5.16 through an in-process Aedes (WebSocket
// and TCP, MQTT 3.1.1) and through a Mosquitto process (TCP, MQTT 3.1.1 and
// 5), including what Mosquitto's persistence really keeps across SIGKILL.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { connect } from 'mqtt';
import type { IClientOptions, IConnackPacket, IPublishPacket, MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAedes } from '../support/aedes.js';
import type { AedesHarness } from '../support/aedes.js';
import { startMosquitto } from '../support/mosquitto.js';
import type { MosquittoHarness } from '../support/mosquitto.js';
import { canConnect, freePort } from '../support/ports.js';

// ---------------------------------------------------------------------------
// helpers

interface Received {
  readonly topic: string;
  readonly payload: Buffer;
  readonly packet: IPublishPacket;
}

interface Client {
  readonly mqtt: MqttClient;
  readonly connack: IConnackPacket;
  /** Every message since the client was created (the handler is attached before CONNECT). */
  readonly received: Received[];
  /** Resolves with the next message matching `filter` (also one already received and not yet taken). */
  next(filter?: (m: Received) => boolean, timeoutMs?: number): Promise<Received>;
}

const openClients = new Set<MqttClient>();

afterEach(async () => {
  await Promise.all([...openClients].map((c) => c.endAsync(true).catch(() => {})));
  openClients.clear();
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Connects and resolves on CONNACK. The message handler is attached before
 * the client connects: Mosquitto sends a durable session's queued messages
 * right behind CONNACK, and mqtt.js emits them before an `await connectAsync()`
 * continuation can attach a handler (seen here: the first 16 were missed).
 */
function open(url: string, options: IClientOptions): Promise<Client> {
  return new Promise<Client>((resolve, reject) => {
    const client = connect(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options });
    openClients.add(client);
    const received: Received[] = [];
    let taken = 0;
    const waiters: (() => void)[] = [];
    client.on('message', (topic, payload, packet) => {
      received.push({ topic, payload, packet });
      for (const w of waiters.splice(0)) w();
    });
    const next = (filter: (m: Received) => boolean = () => true, timeoutMs = 5_000): Promise<Received> =>
      new Promise<Received>((res, rej) => {
        const deadline = setTimeout(() => rej(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
        const check = (): void => {
          for (let i = taken; i < received.length; i += 1) {
            const m = received[i] as Received;
            if (filter(m)) {
              taken = i + 1;
              clearTimeout(deadline);
              res(m);
              return;
            }
          }
          waiters.push(check);
        };
        check();
      });
    const onError = (err: Error): void => {
      client.end(true);
      reject(err);
    };
    client.once('error', onError);
    client.once('connect', (connack) => {
      client.removeListener('error', onError);
      client.on('error', () => {}); // later transport errors are the test's business
      resolve({ mqtt: client, connack, received, next });
    });
  });
}

let topicCounter = 0;
function freshTopic(prefix: string): string {
  topicCounter += 1;
  return `harness/${prefix}/${process.pid}/${topicCounter}`;
}

/** Subscribes at `qos`, publishes a binary payload at `qos`, expects it back intact at that QoS. */
async function roundTrip(sub: Client, pub: Client, qos: 0 | 1 | 2): Promise<void> {
  const topic = freshTopic(`qos${qos}`);
  const grants = await sub.mqtt.subscribeAsync(topic, { qos });
  expect(grants[0]?.qos).toBe(qos);
  const payload = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7 + qos) & 0xff));
  const arrival = sub.next((m) => m.topic === topic);
  await pub.mqtt.publishAsync(topic, payload, { qos });
  const got = await arrival;
  expect(got.packet.qos).toBe(qos);
  expect(Buffer.compare(got.payload, payload)).toBe(0);
  expect(got.packet.retain).toBe(false);
}

async function retained(url: string, options: IClientOptions): Promise<void> {
  const topic = freshTopic('retained');
  const pub = await open(url, options);
  await pub.mqtt.publishAsync(topic, 'last known value', { qos: 1, retain: true });
  const late = await open(url, options);
  await late.mqtt.subscribeAsync(topic, { qos: 1 });
  const got = await late.next((m) => m.topic === topic);
  expect(got.payload.toString()).toBe('last known value');
  expect(got.packet.retain).toBe(true);
  // An empty retained payload clears it: a later subscriber gets nothing.
  await pub.mqtt.publishAsync(topic, '', { qos: 1, retain: true });
  const later = await open(url, options);
  await later.mqtt.subscribeAsync(topic, { qos: 1 });
  await sleep(150);
  expect(later.received.filter((m) => m.topic === topic)).toHaveLength(0);
}

/** Open TCP handles of this process (servers and sockets). */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Publishes `count` QoS 1 messages with at most `window` unacknowledged. */
async function publishMany(pub: Client, topic: string, count: number, window = 10): Promise<string[]> {
  const bodies = Array.from({ length: count }, (_, i) => `m${i}`);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const body = bodies[next] as string;
      next += 1;
      await pub.mqtt.publishAsync(topic, body, { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  return bodies;
}

/**
 * A save fence for Mosquitto with autosave_interval 1 + autosave_on_changes:
 * the broker saves at the end of the loop iteration that handled a change,
 * before it reads anything else. The PUBACK of a publish sent after the last
 * PUBACK arrived comes from a later iteration, so once it is back, the
 * earlier changes are on disk.
 */
async function saveFence(pub: Client): Promise<void> {
  await pub.mqtt.publishAsync(freshTopic('fence'), 'fence', { qos: 1 });
}

// ---------------------------------------------------------------------------
// Aedes

describe('Aedes harness (in-process, MQTT 3.1.1)', () => {
  let aedes: AedesHarness;

  beforeAll(async () => {
    aedes = await startAedes({ ws: true, tcp: true });
  });
  afterAll(async () => {
    await aedes?.close();
  });

  it('serves ws:// and mqtt:// on 127.0.0.1', () => {
    expect(aedes.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/$/);
    expect(aedes.mqttUrl).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect((aedes.httpServer?.address() as AddressInfo).address).toBe('127.0.0.1');
    expect((aedes.tcpServer?.address() as AddressInfo).address).toBe('127.0.0.1');
  });

  it.each([0, 1, 2] as const)('QoS %i round trip over WebSocket', async (qos) => {
    const sub = await open(aedes.wsUrl, { protocolVersion: 4 });
    const pub = await open(aedes.wsUrl, { protocolVersion: 4 });
    await roundTrip(sub, pub, qos);
  });

  it('QoS 1 between a WebSocket and a TCP client', async () => {
    const sub = await open(aedes.wsUrl, { protocolVersion: 4 });
    const pub = await open(aedes.mqttUrl, { protocolVersion: 4 });
    await roundTrip(sub, pub, 1);
  });

  it('keeps a retained message for later subscribers', async () => {
    await retained(aedes.wsUrl, { protocolVersion: 4 });
  });

  it('refuses MQTT 5 (Aedes speaks 3.1.1 only)', async () => {
    await expect(open(aedes.wsUrl, { protocolVersion: 5 })).rejects.toThrow(/unacceptable protocol version/i);
  });

  it('exposes the broker for hostile-broker tests (authorizeForward rewrites, publish events observe)', async () => {
    const topic = freshTopic('hostile');
    const seen: string[] = [];
    const onPublish = (packet: { topic: string; payload: Buffer | string }): void => {
      if (packet.topic === topic) seen.push(packet.payload.toString());
    };
    aedes.broker.on('publish', onPublish);
    const original = aedes.broker.authorizeForward;
    aedes.broker.authorizeForward = (client, packet) => {
      if (packet.topic !== topic) return packet;
      return { ...packet, payload: Buffer.from('tampered') };
    };
    try {
      const sub = await open(aedes.wsUrl, { protocolVersion: 4 });
      const pub = await open(aedes.wsUrl, { protocolVersion: 4 });
      await sub.mqtt.subscribeAsync(topic, { qos: 1 });
      await pub.mqtt.publishAsync(topic, 'genuine', { qos: 1 });
      const got = await sub.next((m) => m.topic === topic);
      expect(got.payload.toString()).toBe('tampered');
      // 'publish' fires once the broker has dispatched the packet: maybe after delivery.
      await until(() => seen.length > 0, 2_000, "the broker's publish event");
      expect(seen).toEqual(['genuine']);
    } finally {
      aedes.broker.authorizeForward = original;
      aedes.broker.removeListener('publish', onPublish);
    }
  });

  it('dropConnections() cuts every client; mqtt.js reconnects', async () => {
    const client = await open(aedes.wsUrl, { protocolVersion: 4, reconnectPeriod: 50 });
    let reconnects = 0;
    client.mqtt.on('connect', () => {
      reconnects += 1;
    });
    expect(aedes.openConnections()).toBeGreaterThan(0);
    aedes.dropConnections();
    await until(() => reconnects >= 1, 5_000, 'the client to reconnect');
    expect(client.mqtt.connected).toBe(true);
  });

  it('close() ends every client and leaves no TCP handle behind', async () => {
    await sleep(20);
    const baseline = tcpHandles();
    const b = await startAedes({ ws: true, tcp: true });
    const viaWs = await open(b.wsUrl, { protocolVersion: 4 });
    const viaTcp = await open(b.mqttUrl, { protocolVersion: 4 });
    // Both clients are connected; leave one subscribed and one mid-session.
    await viaWs.mqtt.subscribeAsync('x/#', { qos: 1 });
    expect(b.openConnections()).toBe(2);
    const closed = Promise.all([viaWs, viaTcp].map((c) => new Promise<void>((r) => c.mqtt.once('close', () => r()))));
    await within(b.close(), 8_000, 'close()');
    await within(closed, 2_000, 'both clients to see their connection closed by the broker');
    expect(b.openConnections()).toBe(0);
    expect(b.broker.closed).toBe(true);
    expect(b.httpServer?.listening).toBe(false);
    expect(b.tcpServer?.listening).toBe(false);
    expect(await canConnect(b.wsPort as number)).toBe(false);
    await b.close(); // idempotent
    for (const c of [viaWs, viaTcp]) {
      await c.mqtt.endAsync(true);
      openClients.delete(c.mqtt);
    }
    await until(() => tcpHandles() <= baseline, 2_000, `TCP handles back to ${baseline} (now ${tcpHandles()})`);
  });
});

// ---------------------------------------------------------------------------
// Mosquitto

describe('Mosquitto harness (process, TCP)', () => {
  let mosq: MosquittoHarness;

  beforeAll(async () => {
    mosq = await startMosquitto();
  });
  afterAll(async () => {
    await mosq?.close();
  });

  describe.each([4, 5] as const)('MQTT protocolVersion %i', (protocolVersion) => {
    it.each([0, 1, 2] as const)('QoS %i round trip', async (qos) => {
      const sub = await open(mosq.url, { protocolVersion });
      const pub = await open(mosq.url, { protocolVersion });
      await roundTrip(sub, pub, qos);
    });

    it('keeps a retained message for later subscribers', async () => {
      await retained(mosq.url, { protocolVersion });
    });
  });

  it('runs mosquitto from a generated config on 127.0.0.1', () => {
    expect(mosq.url).toBe(`mqtt://127.0.0.1:${mosq.port}`);
    expect(mosq.running).toBe(true);
    expect(processExists(mosq.pid)).toBe(true);
    expect(mosq.config).toContain(`listener ${mosq.port} 127.0.0.1`);
    expect(mosq.config).toContain('allow_anonymous true');
    expect(mosq.config).toContain('persistence false');
  });

  it('applies maxInflight (announced to MQTT 5 clients as Receive Maximum)', async () => {
    const m = await startMosquitto({ maxInflight: 12, maxQueued: 50 });
    try {
      expect(m.config).toMatch(/^max_inflight_messages 12$/m);
      expect(m.config).toMatch(/^max_queued_messages 50$/m);
      const c = await open(m.url, { protocolVersion: 5 });
      expect(c.connack.properties?.receiveMaximum).toBe(12);
    } finally {
      await m.close();
    }
  });

  it('fails with mosquitto’s own message on a bad config, and on a port in use', async () => {
    await expect(startMosquitto({ extraConfig: 'no_such_option 1' })).rejects.toThrow(/no_such_option/);

    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    try {
      await expect(startMosquitto({ port, startTimeoutMs: 3_000 })).rejects.toThrow(/address already in use/i);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('fails clearly when mosquitto is not installed', async () => {
    await expect(startMosquitto({ binary: '/nonexistent/mosquitto' })).rejects.toThrow(
      /mosquitto is not installed.*bash \.ci\/run.*apt-get install -y mosquitto/s,
    );
  });

  it('close() stops the process, frees the port and removes its files', async () => {
    const m = await startMosquitto({ persistence: true });
    const { pid, port, configFile, dataDir } = m;
    const c = await open(m.url, { protocolVersion: 5 });
    const gone = new Promise<void>((r) => c.mqtt.once('close', () => r()));
    await within(m.close(), 12_000, 'close()');
    await within(gone, 2_000, 'the client to see its connection closed');
    expect(m.running).toBe(false);
    expect(processExists(pid)).toBe(false);
    expect(await canConnect(port)).toBe(false);
    expect(existsSync(configFile)).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
    await m.close(); // idempotent
  });

  it('stop(signal) reports how mosquitto ended; restart() comes back on the same port', async () => {
    const m = await startMosquitto();
    try {
      const { port, pid } = m;
      expect(await m.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      expect(processExists(pid)).toBe(false);
      await m.restart();
      expect(m.port).toBe(port);
      expect(m.pid).not.toBe(pid);
      expect(await m.kill9()).toEqual({ code: null, signal: 'SIGKILL' });
      await m.restart();
      expect(await canConnect(port)).toBe(true);
    } finally {
      await m.close();
    }
  });

  it('kills mosquitto when the process that started it dies, even by SIGKILL', async () => {
    const support = fileURLToPath(new URL('../support/mosquitto.ts', import.meta.url));
    const script = `const { startMosquitto } = await import(${JSON.stringify(support)});
      const m = await startMosquitto();
      console.log(JSON.stringify({ pid: m.pid, config: m.configFile }));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    try {
      await until(() => out.includes('\n') || child.exitCode !== null, 20_000, 'the child to start mosquitto');
      const { pid, config } = JSON.parse(out.trim() || '{}') as { pid: number; config: string };
      expect(pid, err).toBeGreaterThan(0);
      expect(processExists(pid)).toBe(true);
      expect(existsSync(config)).toBe(true);
      child.kill('SIGKILL');
      await until(() => !processExists(pid), 5_000, `mosquitto ${pid} to be killed by its guardian`);
      await until(() => !existsSync(config), 2_000, `the guardian to remove ${config}`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

// ---------------------------------------------------------------------------
// Mosquitto persistence across SIGKILL

describe('Mosquitto persistence across SIGKILL + restart', () => {
  let mosq: MosquittoHarness;

  beforeAll(async () => {
    // autosave_interval 1 + autosave_on_changes true (the harness default).
    mosq = await startMosquitto({ persistence: true });
  });
  afterAll(async () => {
    await mosq?.close();
  });

  const sessions = [
    { name: 'MQTT 3.1.1, clean: false', options: { protocolVersion: 4, clean: false } },
    {
      name: 'MQTT 5, clean: false + sessionExpiryInterval',
      options: { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } },
    },
  ] as const satisfies readonly { name: string; options: IClientOptions }[];

  describe.each(sessions)('$name', ({ options }) => {
    it('a disconnected durable subscriber gets every QoS 1 message saved before the SIGKILL', async () => {
      const clientId = `durable-${options.protocolVersion}-${process.pid}`;
      const topic = freshTopic('durable');
      const sub = await open(mosq.url, { ...options, clientId, resubscribe: false });
      expect(sub.connack.sessionPresent).toBe(false);
      await sub.mqtt.subscribeAsync(topic, { qos: 1 });
      await sub.mqtt.endAsync();

      const pub = await open(mosq.url, { protocolVersion: options.protocolVersion, clientId: `${clientId}-pub` });
      const sent = await publishMany(pub, topic, 40);
      await saveFence(pub);
      const saves = mosq.saveCount();
      expect(saves).toBeGreaterThan(0);
      const oldPid = mosq.pid;
      expect(await mosq.kill9()).toEqual({ code: null, signal: 'SIGKILL' });
      await mosq.restart();
      expect(mosq.pid).not.toBe(oldPid);

      const back = await open(mosq.url, { ...options, clientId, resubscribe: false });
      expect(back.connack.sessionPresent).toBe(true);
      await until(() => back.received.length >= sent.length, 5_000, `${sent.length} queued messages`);
      await sleep(100); // nothing more (no duplicates) should follow
      expect(back.received.map((m) => m.payload.toString()).sort()).toEqual([...sent].sort());
      expect(back.received.every((m) => m.topic === topic && m.packet.qos === 1)).toBe(true);
    });

    it('a subscriber connected at the SIGKILL keeps its subscription after the restart', async () => {
      const clientId = `live-${options.protocolVersion}-${process.pid}`;
      const topic = freshTopic('live');
      const sub = await open(mosq.url, { ...options, clientId, resubscribe: false, reconnectPeriod: 100 });
      await sub.mqtt.subscribeAsync(topic, { qos: 1 });
      const reconnected = new Promise<IConnackPacket>((r) => sub.mqtt.once('connect', r));
      const pub0 = await open(mosq.url, { protocolVersion: options.protocolVersion });
      await saveFence(pub0); // the SUBSCRIBE's save is done
      await mosq.kill9();
      await mosq.restart();
      const connack = await reconnected;
      expect(connack.sessionPresent).toBe(true);

      const pub = await open(mosq.url, { protocolVersion: options.protocolVersion });
      const sent = await publishMany(pub, topic, 10, 5);
      await until(() => sub.received.length >= sent.length, 5_000, 'messages on the kept subscription');
      expect(sub.received.map((m) => m.payload.toString()).sort()).toEqual([...sent].sort());
    });
  });

  it('without autosave on changes, SIGKILL loses everything since the last save (SIGTERM keeps it)', async () => {
    // autosave_interval 3600 s, time based: between clean exits nothing is saved.
    const m = await startMosquitto({ persistence: true, autosaveInterval: 3600, autosaveOnChanges: false });
    try {
      const clientId = `timed-${process.pid}`;
      const topic = freshTopic('timed');
      const options = { protocolVersion: 4, clean: false, clientId, resubscribe: false } as const;
      const sub = await open(m.url, options);
      await sub.mqtt.subscribeAsync(topic, { qos: 1 });
      await sub.mqtt.endAsync();
      await m.restart(); // SIGTERM: the session and its subscription are saved on exit
      expect(m.saveCount()).toBe(1);

      // SIGKILL: the 20 acknowledged messages were never saved.
      let pub = await open(m.url, { protocolVersion: 4 });
      await publishMany(pub, topic, 20);
      await m.kill9();
      await m.restart();
      let back = await open(m.url, options);
      expect(back.connack.sessionPresent).toBe(true);
      await sleep(300);
      expect(back.received).toHaveLength(0);
      await back.mqtt.endAsync();

      // SIGTERM: the same sequence keeps them.
      pub = await open(m.url, { protocolVersion: 4 });
      const sent = await publishMany(pub, topic, 20);
      await m.stop('SIGTERM');
      await m.restart();
      back = await open(m.url, options);
      expect(back.connack.sessionPresent).toBe(true);
      await until(() => back.received.length >= sent.length, 5_000, 'the messages saved at SIGTERM');
      expect(back.received.map((x) => x.payload.toString()).sort()).toEqual([...sent].sort());
    } finally {
      await m.close();
    }
  });
});
