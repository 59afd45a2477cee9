// SecureMqttClient in a real browser, end to end with Node, through an
// untrusted broker: Debian's headless Chromium loads test/browser/client.html,
// which imports the built bundle dist/index.js (mqtt mapped by an import map to
// mqtt.js's browser ESM build; the wasm core from /wasm/pqc.wasm) and runs
// clients from client-run.js, in the page and in a module Web Worker
// (client-worker.js). The broker is an in-process Aedes over WebSocket
// (MQTT 3.1.1); the CA stays in Node, which issues the certificates and hands
// the page each identity (exportIdentity), certificate and trust anchor.
//
// Node's side uses the sources (src/), the browser the bundle (dist/): the two
// must interoperate byte for byte. Everything is judged here, in Node.

import mqtt from 'mqtt';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeTrustAnchor } from '../../src/certs/authority.js';
import { connectAsync, type MessageMeta, type SecureMqttClient, type SecurityEvent } from '../../src/client/index.js';
import { exportIdentity } from '../../src/identity/index.js';
import { startAedes, type AedesHarness } from '../support/aedes.js';
import { launchChromium, type ChromiumSession, type WatchedPage } from '../support/chromium.js';
import { makeFleet, str, text, until, type Fleet, type Member } from '../support/fleet.js';
import { REPO_ROOT, start, type StaticServer } from '../support/static-server.js';

// ------------------------------------------------------------------ the page's API (client-run.js)

interface Credentials {
  url: string;
  /** base64 of exportIdentity(), the certificate bytes and encodeTrustAnchor(). */
  identity: string;
  certificate: string;
  trustAnchor: string;
}

interface BrowserMessage {
  topic: string;
  payload: string;
  payloadIsBytes: boolean;
  sender: string;
  kind: 'group' | 'direct';
  epoch?: number;
  seq: number;
  qos: number;
  retained: boolean;
  certificateSubject?: string;
}

interface BrowserSecurityEvent {
  code: string;
  topic: string;
  sender?: string;
  message: string;
}

interface BrowserState {
  id: string;
  connected: boolean;
  messages: BrowserMessage[];
  security: BrowserSecurityEvent[];
  errors: string[];
  stats: { delivered: number; duplicates: number; rejected: Record<string, number> };
  timedOut?: boolean;
}

interface ClientApi {
  scope(): string;
  open(credentials: Credentials): Promise<{ handle: number; id: string; connectMs: number }>;
  subscribe(handle: number, filter: string, qos?: number): Promise<void>;
  publish(handle: number, topic: string, texts: string[], qos?: number): Promise<{ published: number; ms: number }>;
  state(handle: number): BrowserState;
  waitFor(handle: number, want: { messages?: number; security?: number }, timeoutMs?: number): Promise<BrowserState>;
  close(handle: number): Promise<void>;
  closeAll(): Promise<void>;
}

type Method = keyof ClientApi;

interface ClientWindow {
  pqcClient: {
    page: ClientApi;
    worker: { start(timeoutMs?: number): Promise<string>; call(method: Method, args: unknown[], timeoutMs?: number): Promise<unknown>; terminate(): void };
  };
}

// ------------------------------------------------------------------ checks and helpers

/**
 * Fails (with what to run) when the bundle or the wasm module is missing, or the
 * bundle is older than any of its sources (the smoke test's check, for dist/index.js).
 */
function assertBuilt(): void {
  const bundle = join(REPO_ROOT, 'dist', 'index.js');
  for (const file of [bundle, join(REPO_ROOT, 'dist', 'bindings.js'), join(REPO_ROOT, 'wasm', 'pqc.wasm')]) {
    if (!existsSync(file)) {
      throw new Error(`${file.slice(REPO_ROOT.length)} is missing: run \`npm run build\` first (\`npm test\` does it).`);
    }
  }
  const built = statSync(bundle).mtimeMs;
  const newer: string[] = [];
  const scan = (dir: string): void => {
    for (const entry of readdirSync(join(REPO_ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) scan(rel);
      else if (entry.name.endsWith('.ts') && statSync(join(REPO_ROOT, rel)).mtimeMs > built) newer.push(rel);
    }
  };
  scan('bindings');
  scan('src');
  if (newer.length > 0) {
    throw new Error(`dist/index.js is older than ${newer.slice(0, 5).join(', ')}${newer.length > 5 ? ` and ${newer.length - 5} more` : ''}: run \`npm run build:js\` (or \`npm run build\`).`);
  }
  if (!existsSync(join(REPO_ROOT, 'node_modules', 'mqtt', 'dist', 'mqtt.esm.js'))) {
    throw new Error('node_modules/mqtt/dist/mqtt.esm.js (the browser build the page maps `mqtt` to) is missing: run `npm ci`.');
  }
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/** Rejects with `what` if `promise` has not settled within `ms` (so a hung page call fails clearly). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Received {
  topic: string;
  payload: string;
  meta: MessageMeta;
}

// ORDER: every test connects the publisher before the subscriber. A subscriber
// sends its key request as soon as it sees the publisher's announcement; if the
// publisher connected later, that request can reach it before the (retained,
// asynchronously delivered) announcement of the subscriber does, and the SDK
// then rejects the request as UNKNOWN_SENDER (a 'security' event at the
// publisher) instead of holding it like a data message; the subscriber only
// recovers when it asks again (5 s later). Seen here with the worker publisher
// on a loaded machine. Connected the other way round, the subscriber announces
// itself before it asks, on the same connection, so the order is guaranteed.
const N = 20;
const texts = (prefix: string, from = 0, count = N): string[] => Array.from({ length: count }, (_, i) => `${prefix}-${from + i}`);

// ------------------------------------------------------------------ the suite

describe('SecureMqttClient in headless Chromium <-> Node, through Aedes over WebSocket', () => {
  let server: StaticServer | undefined;
  let broker: AedesHarness | undefined;
  let session: ChromiumSession | undefined;
  let watched: WatchedPage | undefined;
  let fleet: Fleet;
  let anchor: string;
  const nodeClients: SecureMqttClient[] = [];
  const nodeErrors: Error[] = [];
  let workerStarted = false;

  const page = (): WatchedPage => {
    if (!watched) throw new Error('the page did not open (see beforeAll)');
    return watched;
  };

  /** Calls the API in the page, or in the module worker; bounded. */
  const call = async <M extends Method>(where: 'page' | 'worker', method: M, ...args: Parameters<ClientApi[M]>): Promise<Awaited<ReturnType<ClientApi[M]>>> => {
    const request = { method: method as string, args: args as unknown[] };
    const run: Promise<unknown> =
      where === 'page'
        ? page().page.evaluate(({ method: m, args: a }): unknown => {
            const api = (window as unknown as ClientWindow).pqcClient.page as unknown as Record<string, (...x: unknown[]) => unknown>;
            return api[m]!(...a);
          }, request)
        : page().page.evaluate(({ method: m, args: a }): Promise<unknown> => (window as unknown as ClientWindow).pqcClient.worker.call(m as Method, a), request);
    try {
      return (await within(run, 40_000, `${where}.${method}`)) as Awaited<ReturnType<ClientApi[M]>>;
    } catch (err) {
      throw new Error(`${where}.${method} failed: ${(err as Error).message}\nbrowser errors:\n${page().describeErrors()}`, { cause: err });
    }
  };

  /** Identity, certificate and trust anchor of `member`, as the page receives them. */
  const credentials = async (member: Member): Promise<Credentials> => {
    const identity = await exportIdentity(member.identity);
    try {
      return { url: broker!.wsUrl, identity: b64(identity), certificate: b64(member.certificate.bytes), trustAnchor: anchor };
    } finally {
      identity.fill(0);
    }
  };

  const openNode = async (member: Member): Promise<SecureMqttClient> => {
    const client = await connectAsync(broker!.wsUrl, member.options({ mqtt: { protocolVersion: 4 }, timeouts: { connect: 15_000, publish: 10_000, subscribe: 10_000, end: 5_000 } }));
    client.on('error', (err) => nodeErrors.push(err));
    nodeClients.push(client);
    return client;
  };

  const record = (client: SecureMqttClient): { messages: Received[]; security: SecurityEvent[] } => {
    const log = { messages: [] as Received[], security: [] as SecurityEvent[] };
    client.on('message', (topic, payload, meta) => log.messages.push({ topic, payload: str(payload), meta }));
    client.on('security', (event) => log.security.push(event));
    return log;
  };

  const expectNoBrowserErrors = (): void => {
    expect(page().errors, `browser errors:\n${page().describeErrors()}`).toEqual([]);
  };

  beforeAll(async () => {
    assertBuilt();
    const t0 = Date.now();
    [server, broker, fleet] = await Promise.all([start(), startAedes({ ws: true }), makeFleet()]);
    anchor = b64(encodeTrustAnchor(fleet.ca.trustAnchor));
    session = await launchChromium();
    watched = await session.newPage();
    const url = new URL('test/browser/client.html', server.url).href;
    const response = await watched.page.goto(url, { waitUntil: 'load', timeout: 15_000 });
    expect(response?.status(), `GET ${url}`).toBe(200);
    try {
      await watched.page.waitForFunction(() => document.documentElement.dataset['ready'] === 'true', undefined, { timeout: 15_000 });
    } catch (err) {
      throw new Error(`client.html did not get ready (does dist/index.js load in a browser?): ${String(err)}\nbrowser errors:\n${watched.describeErrors()}`);
    }
    console.log(`[setup] broker, static server, CA and Chromium ready in ${Date.now() - t0} ms`);
  }, 45_000);

  afterEach(() => {
    // No Node client may have failed internally (a rejected message is a 'security' event, not an error).
    expect(nodeErrors.splice(0).map(String)).toEqual([]);
  });

  afterAll(async () => {
    if (watched) {
      await within(
        watched.page.evaluate(async (worker) => {
          const w = (window as unknown as ClientWindow).pqcClient;
          await w.page.closeAll();
          if (worker) await w.worker.call('closeAll', []).catch(() => undefined);
          w.worker.terminate();
        }, workerStarted),
        10_000,
        'closing the browser clients',
      ).catch(() => undefined);
    }
    await Promise.all(nodeClients.map((c) => c.endAsync(true).catch(() => undefined)));
    await session?.close();
    await broker?.close();
    await server?.close();
  }, 30_000);

  /** A browser publisher (page or worker) to a Node subscriber: verified, in order, exactly once. */
  const browserToNode = async (where: 'page' | 'worker', subject: string, topic: string): Promise<void> => {
    const filter = topic.replace(/\/[^/]+$/, '/#');
    const publisher = await fleet.member(subject, { publish: [filter] });
    const subMember = await fleet.member(`historian-${where}`, { subscribe: [filter] });
    // Publisher first (see ORDER above).
    const opened = await call(where, 'open', await credentials(publisher));
    expect(opened.id).toBe(subject);
    const subscriber = await openNode(subMember);
    const log = record(subscriber);
    await subscriber.subscribeAsync(filter, { qos: 1 });

    const sent = texts(`${where}-reading`);
    const { ms } = await call(where, 'publish', opened.handle, topic, sent, 1);
    await until(() => log.messages.length >= N, `the Node subscriber to get ${N} messages from the browser ${where}`, 15_000);
    // Anything extra (a duplicate) would arrive right behind: give it a moment, then look.
    await new Promise((r) => setTimeout(r, 200));

    expect(log.messages.map((m) => m.payload)).toEqual(sent);
    for (const m of log.messages) {
      expect(m.topic).toBe(topic);
      expect(m.meta).toMatchObject({ sender: subject, kind: 'group', qos: 1, retained: false });
      expect(m.meta.certificate.subject).toBe(subject);
    }
    const seqs = log.messages.map((m) => m.meta.seq);
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), `sequence numbers ${seqs.join(',')}`).toBe(true);
    expect(log.security).toEqual([]);
    expect(subscriber.stats().duplicates).toBe(0);

    const state = await call(where, 'state', opened.handle);
    expect(state.security).toEqual([]);
    expect(state.errors).toEqual([]);
    expect(state.connected).toBe(true);
    await call(where, 'close', opened.handle);
    expectNoBrowserErrors();
    console.log(`[${where}] connect ${opened.connectMs.toFixed(0)} ms; ${N} QoS 1 publishes ${ms.toFixed(0)} ms`);
  };

  it(`a publisher in the page: ${N} QoS 1 messages reach a Node subscriber verified, in order, exactly once`, async () => {
    await browserToNode('page', 'hmi-page', 'plant/line-1/temperature');
  }, 40_000);

  it(`a publisher in Node: ${N} QoS 1 messages reach a subscriber in the page`, async () => {
    const topic = 'plant/line-2/pressure';
    const subMember = await fleet.member('hmi-dashboard', { subscribe: ['plant/line-2/#'] });
    const pubMember = await fleet.member('plc-2', { publish: ['plant/line-2/#'] });

    const publisher = await openNode(pubMember); // publisher first (see ORDER above)
    const opened = await call('page', 'open', await credentials(subMember));
    await call('page', 'subscribe', opened.handle, 'plant/line-2/#', 1);
    const sent = texts('bar');
    for (const t of sent) await publisher.publishAsync(topic, text(t), { qos: 1 });

    const state = await call('page', 'waitFor', opened.handle, { messages: N }, 15_000);
    expect(state.timedOut, `the page got ${state.messages.length} of ${N} messages; security ${JSON.stringify(state.security)}; errors ${JSON.stringify(state.errors)}`).toBe(false);
    await new Promise((r) => setTimeout(r, 200));
    const final = await call('page', 'state', opened.handle);
    expect(final.messages.map((m) => m.payload)).toEqual(sent);
    for (const m of final.messages) {
      expect(m).toMatchObject({ topic, sender: 'plc-2', certificateSubject: 'plc-2', kind: 'group', qos: 1, retained: false, payloadIsBytes: true });
    }
    const seqs = final.messages.map((m) => m.seq);
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), `sequence numbers ${seqs.join(',')}`).toBe(true);
    expect(final.security).toEqual([]);
    expect(final.errors).toEqual([]);
    expect(final.stats.duplicates).toBe(0);
    await call('page', 'close', opened.handle);
    expectNoBrowserErrors();
  }, 40_000);

  it('rejects messages forged by a raw mqtt.js client in Node with security events in the page; honest traffic continues', async () => {
    const topic = 'plant/line-3/valve';
    const subMember = await fleet.member('hmi-guard', { subscribe: ['plant/line-3/#'] });
    const pubMember = await fleet.member('plc-3', { publish: ['plant/line-3/#'] });
    const publisher = await openNode(pubMember); // publisher first (see ORDER above)
    const opened = await call('page', 'open', await credentials(subMember));
    await call('page', 'subscribe', opened.handle, 'plant/line-3/#', 1);

    // A raw client (no SDK) sees the envelopes as the broker does.
    const raw = await mqtt.connectAsync(broker!.wsUrl, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
    try {
      const captured: Buffer[] = [];
      raw.on('message', (t, payload) => {
        if (t === topic) captured.push(payload);
      });
      await raw.subscribeAsync(topic, { qos: 1 });

      await publisher.publishAsync(topic, text('honest-1'), { qos: 1 });
      await until(() => captured.length === 1, 'the raw client to capture the first envelope');
      const first = await call('page', 'waitFor', opened.handle, { messages: 1 }, 15_000);
      expect(first.timedOut, `the page did not get the first honest message: ${JSON.stringify(first)}`).toBe(false);

      const envelope = captured[0]!;
      const flipped = Buffer.from(envelope);
      flipped[flipped.length - 100]! ^= 1; // inside the signature
      await raw.publishAsync(topic, Buffer.from('definitely not an envelope'), { qos: 1 }); // MALFORMED
      await raw.publishAsync(topic, flipped, { qos: 1 }); // BAD_SIGNATURE
      await publisher.publishAsync(topic, text('honest-2'), { qos: 1 });
      await publisher.publishAsync(topic, text('honest-3'), { qos: 1 });

      const state = await call('page', 'waitFor', opened.handle, { messages: 3, security: 2 }, 15_000);
      expect(state.timedOut, `waiting for 3 messages and 2 security events: ${JSON.stringify({ messages: state.messages.map((m) => m.payload), security: state.security })}`).toBe(false);
      await new Promise((r) => setTimeout(r, 200));
      const final = await call('page', 'state', opened.handle);
      expect(final.messages.map((m) => m.payload)).toEqual(['honest-1', 'honest-2', 'honest-3']);
      expect(final.messages.every((m) => m.sender === 'plc-3' && m.topic === topic)).toBe(true);
      expect(final.security.map((e) => e.code).sort()).toEqual(['BAD_SIGNATURE', 'MALFORMED']);
      expect(final.security.every((e) => e.topic === topic)).toBe(true);
      expect(final.security.find((e) => e.code === 'BAD_SIGNATURE')?.sender).toBe('plc-3');
      expect(final.stats.rejected).toEqual({ BAD_SIGNATURE: 1, MALFORMED: 1 });
      expect(final.errors).toEqual([]);
      expect(final.connected).toBe(true);
      await call('page', 'close', opened.handle);
    } finally {
      await raw.endAsync(true).catch(() => undefined);
    }
    expectNoBrowserErrors();
  }, 40_000);

  it(`a publisher in a module Web Worker: ${N} QoS 1 messages reach a Node subscriber the same way`, async () => {
    const scope = await within(
      page().page.evaluate(() => (window as unknown as ClientWindow).pqcClient.worker.start(20_000)),
      25_000,
      'starting the worker',
    ).catch((err: unknown) => {
      throw new Error(`the module worker did not start: ${(err as Error).message}\nbrowser errors:\n${page().describeErrors()}`);
    });
    workerStarted = true;
    expect(scope).toBe('worker');
    await browserToNode('worker', 'hmi-worker', 'plant/line-4/flow');
  }, 40_000);

  it('loaded the bundle, mqtt.js and the wasm module from the server, with no browser errors', () => {
    expectNoBrowserErrors();
    const requests = server!.requests;
    const ok = (path: string): number => requests.filter((r) => r.path === path && r.status === 200).length;
    expect(ok('/dist/index.js'), JSON.stringify(requests)).toBeGreaterThanOrEqual(1);
    expect(ok('/node_modules/mqtt/dist/mqtt.esm.js'), JSON.stringify(requests)).toBeGreaterThanOrEqual(1);
    expect(ok('/wasm/pqc.wasm'), JSON.stringify(requests)).toBeGreaterThanOrEqual(1);
    expect(requests.filter((r) => r.status !== 200), 'failed requests').toEqual([]);
  });
});
