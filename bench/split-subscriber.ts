// The subscriber of bench/e2e-split.ts, in a process of its own, run by the
// parent as
//   node --import tsx bench/split-subscriber.ts      (forked, with an IPC channel)
// The parent sends 'start' (broker URL, topic filter, mode, and for the secure
// modes the subscriber's exported identity, certificate and trust anchor), the
// child connects, subscribes at QoS 1 and answers 'subscribed'; after 'go'
// (sent once the publisher is connected) it answers 'ready', in amortised mode
// only once it holds the publisher's epoch key: amortised messages of an epoch
// without a key are lost (UNKNOWN_EPOCH), as in bench/e2e-amortised.ts.
//
// Every application delivery is reported back as the payload's 8-byte header
// (the load run's tag and sequence number) and the delivery time, taken here
// on the wall-clock timeline (performance.timeOrigin + performance.now()) the
// parent can map onto its own. Reports are batched, and not per event-loop
// turn: a turn holds whatever one socket read brought, which can be a single
// message, so the IPC rate would follow the arrival pattern, up to one report
// per delivery, costing the parent (publisher and load driver) CPU the figure
// must not pay. A short timer bounds the IPC rate whatever the arrival pattern; since each
// delivery carries its own time, the delay does not enter the latency. The
// size cap keeps the parent's view of "delivered" close enough to the truth
// for the load run's maxUndelivered (256) not to throttle on stale counts.
//
// The child ends its client and exits on 'stop', and also when the IPC channel
// closes (the parent ended or died): it never outlives the bench.

import { performance } from 'node:perf_hooks';
import { connect, type MqttClient } from 'mqtt';
import { init } from '../bindings/index.js';
import { decodeCertificate, decodeTrustAnchor } from '../src/certs/certificate.js';
import { SecureMqttClient } from '../src/client/index.js';
import { importIdentity } from '../src/identity/index.js';
import { MemoryStorage } from '../src/storage/memory.js';
import { whenConnected } from './mqtt-load.js';
import { HEADER_BYTES, parseToChild, type FromChild, type ToChild } from './split-protocol.js';

/** At most this long between a delivery and its report (ms). */
const FLUSH_MS = 2;
/** Report at once when this many deliveries are pending. */
const MAX_BATCH = 128;
/** A graceful end that takes longer than this is forced; the exit after it is not delayed further. */
const END_TIMEOUT_MS = 5_000;

const MQTT_OPTIONS = { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10_000 } as const;

function send(message: FromChild, then?: () => void): void {
  if (!process.connected || !process.send) {
    then?.();
    return;
  }
  process.send(message, undefined, undefined, () => then?.());
}

// ---------------------------------------------------------------------------
// Batched delivery reports

const headers = new Uint8Array(MAX_BATCH * HEADER_BYTES);
const times = new Float64Array(MAX_BATCH);
let pending = 0;
let security: string[] = [];
let flushTimer: NodeJS.Timeout | undefined;
let delivered = 0;
let reports = 0;

function flush(): void {
  clearTimeout(flushTimer);
  flushTimer = undefined;
  if (pending === 0 && security.length === 0) return;
  // Copies: the buffers take the next batch at once, whenever the channel gets to serialize this one.
  send({ type: 'report', headers: headers.slice(0, pending * HEADER_BYTES), times: times.slice(0, pending), security });
  pending = 0;
  security = [];
  reports += 1;
}

function schedule(): void {
  flushTimer ??= setTimeout(flush, FLUSH_MS);
}

function delivery(payload: Uint8Array): void {
  const at = performance.timeOrigin + performance.now();
  if (payload.byteLength < HEADER_BYTES) return; // not a load-run message
  headers.set(payload.subarray(0, HEADER_BYTES), pending * HEADER_BYTES);
  times[pending] = at;
  pending += 1;
  delivered += 1;
  if (pending === MAX_BATCH) flush();
  else schedule();
}

function securityEvent(text: string): void {
  security.push(text);
  schedule();
}

// ---------------------------------------------------------------------------
// The client

interface Subscriber {
  /** Resolves once the subscriber may be measured (amortised: it holds a key of `awaitKey`). */
  ready(awaitKey: { publisher: string; channel: string } | undefined): Promise<void>;
  end(): Promise<void>;
}

let closing = false;
const logError = (err: Error): void => {
  // A connection reset while the bench tears everything down is not news.
  if (!closing) process.stderr.write(`split-subscriber: ${err.message}\n`);
};

async function startPlain(url: string, filter: string): Promise<Subscriber> {
  const client: MqttClient = connect(url, { ...MQTT_OPTIONS, clientId: `load-split-sub-${process.pid}` });
  await whenConnected(client);
  client.on('error', logError);
  client.on('message', (_topic: string, payload: Buffer) => delivery(payload));
  await client.subscribeAsync(filter, { qos: 1 });
  return {
    ready: async () => undefined,
    end: () => client.endAsync().catch(() => client.endAsync(true)),
  };
}

async function startSecure(start: Extract<ToChild, { type: 'start' }>): Promise<Subscriber> {
  const { credentials } = start;
  if (!credentials) throw new Error(`mode ${start.mode} needs credentials`);
  await init();
  const identity = await importIdentity(credentials.identity);
  const client = new SecureMqttClient(start.url, {
    identity,
    certificate: decodeCertificate(credentials.certificate),
    trustAnchor: decodeTrustAnchor(credentials.trustAnchor),
    storage: new MemoryStorage(),
    ...(start.mode === 'amortised' ? { acceptAmortised: true } : {}),
    mqtt: MQTT_OPTIONS,
  });
  client.on('error', logError);
  client.on('message', (_topic, payload) => delivery(payload));
  client.on('security', (e) => securityEvent(`${e.code}: ${e.message}`));
  await client.connect();
  await client.subscribeAsync(start.filter, { qos: 1 });
  return {
    async ready(awaitKey) {
      if (!awaitKey) return;
      const deadline = Date.now() + 30_000;
      while ((client.keyManager?.heldEpochs(awaitKey.publisher, awaitKey.channel).length ?? 0) === 0) {
        if (Date.now() > deadline) throw new Error(`no key grant from ${awaitKey.publisher} within 30 s`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    end: () => client.endAsync().catch(() => client.endAsync(true)),
  };
}

// ---------------------------------------------------------------------------
// Lifecycle

let subscriber: Promise<Subscriber> | undefined;
let exiting = false;

/** Ends the client (bounded), reports what was batched, exits. */
function shutdown(code: number): void {
  if (exiting) return;
  exiting = true;
  closing = true;
  const forced = setTimeout(() => process.exit(code), END_TIMEOUT_MS);
  const ended = subscriber ? subscriber.then((s) => s.end(), () => undefined) : Promise.resolve();
  ended
    .catch((err: unknown) => process.stderr.write(`split-subscriber: end: ${err instanceof Error ? err.message : String(err)}\n`))
    .finally(() => {
      flush();
      send({ type: 'stopped', deliveries: delivered, reports }, () => {
        clearTimeout(forced);
        process.exit(code);
      });
    });
}

function fatal(err: unknown): void {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  send({ type: 'fatal', message });
  shutdown(1);
}

async function handle(message: ToChild): Promise<void> {
  switch (message.type) {
    case 'start':
      if (subscriber) throw new Error('started twice');
      subscriber = message.mode === 'plain' ? startPlain(message.url, message.filter) : startSecure(message);
      await subscriber;
      send({ type: 'subscribed' });
      return;
    case 'go': {
      if (!subscriber) throw new Error("'go' before 'start'");
      await (await subscriber).ready(message.awaitKey);
      send({ type: 'ready' });
      return;
    }
    case 'stop':
      shutdown(0);
      return;
  }
}

if (!process.send) {
  process.stderr.write('split-subscriber: run me through child_process.fork (an IPC channel is needed)\n');
  process.exit(2);
}
process.on('message', (m: unknown) => {
  try {
    handle(parseToChild(m)).catch(fatal);
  } catch (err) {
    fatal(err);
  }
});
// The parent went away (ended, crashed or was killed): nobody reads the reports any more.
process.on('disconnect', () => shutdown(0));
