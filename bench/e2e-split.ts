// The end-to-end benches again (bench/e2e-plain.ts, e2e-secure.ts,
// e2e-amortised.ts), with the subscriber in a Node process of its own.
//
// Why: in the other e2e benches publisher and subscriber share one Node
// process, so one JS thread pays for both ends, and the secure figure is the
// sum of the publisher's cost (seal, sign) and the subscriber's (verify,
// open). In a deployment they run on different machines, each with its own
// CPU, and a pipeline is bounded by the slower of its ends, not by their sum.
// Here the bench process holds the publisher and the load driver (runLoad,
// bench/mqtt-load.ts); the subscriber is bench/split-subscriber.ts, forked
// with an IPC channel (messages in bench/split-protocol.ts). It reports every
// delivery's 8-byte header and its delivery time back in batches, and the
// driver counts, checks and times the deliveries from those reports: the
// figures mean what the in-process ones mean, only the topology differs.
//
// Caveat: this is one machine. With 2 cores the three processes (publisher +
// driver, subscriber, Mosquitto) share them, so the ends do not get a core
// each as they would on separate machines; the figures sit between the
// in-process ones and a real two-machine setup. meta.cpus says how many
// cores the run had, and each mode logs (stderr, Linux) the CPU share of the
// three processes over its measured run: near 100% each, or a sum near the
// core count, means the figure is bounded by the machine, not by an end.
//
// Everything else as in the in-process benches: a Mosquitto per mode started
// with BENCH_BROKER on 127.0.0.1, MQTT 5, QoS 1, 256-byte payloads, window 16,
// maxUndelivered 256 (runLoad's defaults), 2,000 warm-up + 20,000 measured
// messages (quick: plain 200 + 2,000, the secure modes 200 + 1,000), the
// amortised publisher with `amortise: BENCH_AMORTISE` (bench/mqtt-load.ts) and
// the subscriber with `acceptAmortised: true` holding the key before the first
// message. Any loss, duplicate or (secure modes) security event fails the run.
// The delivery times are taken in the subscriber on the wall-clock timeline
// (performance.timeOrigin + performance.now()) and mapped onto this process's
// performance.now(): both processes read the same system clock, and the
// batching delay of the reports stays out of the latency.
//
// Figures: "e2e.split.<key>.msgPerSec", ".p50ms", ".p99ms" for plain,
// signed (per-message signatures) and secure (the amortised mode: the secure
// client's mode for high rates, as in bench/e2e-amortised.ts), and
// "e2e.split.signed.ratioPlain" / "e2e.split.secure.ratioPlain": against
// the split plain figure of the same run (bench/run.ts derives the in-process
// ratios from e2e.plain.*, which this module neither needs nor produces).

import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { connect } from 'mqtt';
import { encodeTrustAnchor } from '../src/certs/certificate.js';
import { SecureMqttClient } from '../src/client/index.js';
import { exportIdentity } from '../src/identity/index.js';
import { makeFleet } from '../test/support/fleet.js';
import { startMosquitto } from '../test/support/mosquitto.js';
import { BENCH_AMORTISE, BENCH_BROKER, mqttJsLoadClient, runLoad, whenConnected, type LoadClient, type LoadResult } from './mqtt-load.js';
import { HEADER_BYTES, parseFromChild, type FromChild, type SplitMode, type ToChild } from './split-protocol.js';
import { repoRoot } from './types.js';

export interface E2eSplitOptions {
  readonly quick?: boolean;
  readonly log?: (message: string) => void;
}

const CHILD = fileURLToPath(new URL('./split-subscriber.ts', import.meta.url));
/** tsx compiling the child, the wasm core's init and the connection. */
const START_TIMEOUT_MS = 60_000;
/** The child's own wait for the key grant is 30 s; this only catches a child that stopped answering. */
const READY_TIMEOUT_MS = 45_000;
/** The child bounds its graceful end to 5 s; after this it is killed. */
const STOP_TIMEOUT_MS = 10_000;

type Listener = (topic: string, payload: Uint8Array, receivedAt?: number) => void;
type Milestone = Extract<FromChild['type'], 'subscribed' | 'ready' | 'stopped'>;

/**
 * The forked subscriber, seen by runLoad as a load client whose deliveries carry their own time.
 * `failed` rejects once the child reports a fatal error or exits without being asked to.
 */
class SplitSubscriber implements LoadClient {
  readonly receiveMaximum = undefined;
  /** Security events the child reported ("CODE: message"). */
  readonly security: string[] = [];
  readonly failed: Promise<never>;
  /** The child's count of deliveries and report messages, once it stopped. */
  batching: { deliveries: number; reports: number } | undefined;

  readonly #child: ChildProcess;
  readonly #topic: string;
  readonly #listeners = new Set<Listener>();
  readonly #arrived = new Set<Milestone>();
  readonly #waiters = new Map<Milestone, () => void>();
  readonly #exited: Promise<void>;
  #fail: (err: Error) => void = () => undefined;
  #failure: Error | undefined;
  #stopping = false;

  constructor(topic: string) {
    this.#topic = topic;
    this.failed = new Promise<never>((_, reject) => {
      this.#fail = (err) => {
        this.#failure ??= err;
        reject(this.#failure);
      };
    });
    this.failed.catch(() => undefined); // observed through expect() and during()
    // stdout to our stderr: in --json mode nothing but the result may reach stdout.
    this.#child = fork(CHILD, [], { cwd: repoRoot, execArgv: ['--import', 'tsx'], stdio: ['ignore', 2, 2, 'ipc'], serialization: 'advanced' });
    // Should the bench exit without reaching stop() (process.exit elsewhere), the child does not stay behind.
    const kill = (): void => {
      this.#child.kill('SIGKILL');
    };
    process.once('exit', kill);
    this.#exited = new Promise<void>((resolve) => {
      this.#child.once('exit', (code, signal) => {
        process.removeListener('exit', kill);
        if (!this.#stopping || code !== 0) this.#fail(new Error(`split subscriber exited (${signal ?? `code ${code}`})`));
        resolve();
      });
    });
    this.#child.on('error', (err) => this.#fail(err));
    this.#child.on('message', (m: unknown) => {
      try {
        this.#receive(parseFromChild(m));
      } catch (err) {
        this.#fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  publish(): Promise<void> {
    return Promise.reject(new Error('the split subscriber does not publish'));
  }

  onMessage(cb: Listener): () => void {
    this.#listeners.add(cb);
    return () => {
      this.#listeners.delete(cb);
    };
  }

  send(message: ToChild): void {
    if (!this.#child.connected) throw this.#failure ?? new Error('split subscriber: IPC channel closed');
    this.#child.send(message);
  }

  /** Resolves when the child sent `type` (or already had); rejects on failure or after `timeoutMs`. */
  expect(type: Milestone, timeoutMs: number): Promise<void> {
    if (this.#arrived.has(type)) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<void>((resolve, reject) => {
      this.#waiters.set(type, resolve);
      timer = setTimeout(() => reject(new Error(`split subscriber: no '${type}' within ${timeoutMs} ms`)), timeoutMs);
    });
    return this.during(arrived).finally(() => {
      clearTimeout(timer);
      this.#waiters.delete(type);
    });
  }

  /** `work`, cut short when the child fails (a load run would otherwise wait for its idle timeout). */
  during<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.failed]);
  }

  /** Asks the child to end its client and exit; kills it if it does not within STOP_TIMEOUT_MS. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      if (this.#child.connected) this.#child.send({ type: 'stop' } satisfies ToChild);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS)));
      const late = await Promise.race([this.#exited.then(() => false), timedOut]);
      clearTimeout(timer);
      if (late) this.#child.kill('SIGKILL');
    }
    await this.#exited;
  }

  #receive(m: FromChild): void {
    switch (m.type) {
      case 'report': {
        // The child's wall-clock times onto this process's performance.now() timeline.
        const origin = performance.timeOrigin;
        for (let i = 0; i < m.times.length; i++) {
          const payload = m.headers.subarray(i * HEADER_BYTES, (i + 1) * HEADER_BYTES);
          const receivedAt = (m.times[i] as number) - origin;
          for (const cb of this.#listeners) cb(this.#topic, payload, receivedAt);
        }
        this.security.push(...m.security);
        return;
      }
      case 'fatal':
        this.#fail(new Error(`split subscriber: ${m.message}`));
        return;
      case 'stopped':
        this.batching = { deliveries: m.deliveries, reports: m.reports };
        break;
      case 'subscribed':
      case 'ready':
        break;
    }
    this.#arrived.add(m.type);
    this.#waiters.get(m.type)?.();
  }
}

/** Linux's USER_HZ, the unit of /proc/<pid>/stat's CPU times (fixed by the kernel ABI). */
const CLOCK_TICKS_PER_SEC = 100;

/**
 * CPU time (user + system, ms) a process has used so far, from /proc; undefined where there is no /proc.
 * Only logged: it shows whether the three processes had to share the cores during a measured run.
 */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // The command name (field 2) may contain spaces: count fields from its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
    return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS_PER_SEC : undefined;
  } catch {
    return undefined;
  }
}

/** "bench process 80%, subscriber 65%, Mosquitto 30%" of one core each over `ms`, or undefined without /proc. */
function cpuShares(pids: Readonly<Record<string, number | undefined>>, before: Readonly<Record<string, number | undefined>>, ms: number): string | undefined {
  const parts: string[] = [];
  for (const [name, pid] of Object.entries(pids)) {
    const a = before[name];
    const b = cpuMs(pid);
    if (a === undefined || b === undefined) return undefined;
    parts.push(`${name} ${Math.round(((b - a) / ms) * 100)}%`);
  }
  return parts.join(', ');
}

/** A plain mqtt.js publisher; wrapped before it connects so the load client sees the CONNACK's Receive Maximum. */
async function openPlainPublisher(url: string, id: string): Promise<{ load: LoadClient; end: () => Promise<void> }> {
  const client = connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10_000, clientId: `load-pub-${id}` });
  const load = mqttJsLoadClient(client);
  await whenConnected(client);
  return { load, end: () => client.endAsync() };
}

/** A connected SecureMqttClient as the publishing side of a load run (as bench/e2e-secure.ts wraps it). */
function securePublisher(client: SecureMqttClient): LoadClient {
  return {
    async publish(topic: string, payload: Uint8Array): Promise<void> {
      await client.publishAsync(topic, payload, { qos: 1 });
    },
    onMessage(): () => void {
      throw new Error('the split publisher does not subscribe');
    },
    get receiveMaximum(): number | undefined {
      return client.mqttClient?.serverProperties?.receiveMaximum;
    },
  };
}

/** One mode: a Mosquitto, the forked subscriber, the publisher here; warm-up, then the measured run. Throws on any loss. */
async function measureSplit(mode: SplitMode, opts: E2eSplitOptions): Promise<LoadResult> {
  const secure = mode !== 'plain';
  const count = opts.quick ? (secure ? 1_000 : 2_000) : 20_000;
  const warmup = opts.quick ? 200 : 2_000;
  const payloadBytes = 256;
  const window = 16;
  const id = randomBytes(4).toString('hex');
  const topic = secure ? `bench/split-${mode}/${id}/data` : `bench/load/${id}`;
  const filter = secure ? `bench/split-${mode}/${id}/#` : topic;
  const name = `e2e-split-${mode}`;

  const fleet = secure ? await makeFleet() : undefined;
  const members = fleet
    ? await Promise.all([fleet.member(`bench-pub-${id}`, { publish: [topic] }), fleet.member(`bench-sub-${id}`, { subscribe: [filter] })])
    : undefined;
  const broker = await startMosquitto(BENCH_BROKER);
  let sub: SplitSubscriber | undefined;
  let endPublisher: (() => Promise<void>) | undefined;
  let closing = false;
  try {
    sub = new SplitSubscriber(topic);
    const credentials =
      fleet && members
        ? { identity: await exportIdentity(members[1].identity), certificate: members[1].certificate.bytes, trustAnchor: encodeTrustAnchor(fleet.ca.trustAnchor) }
        : undefined;
    sub.send({ type: 'start', url: broker.url, filter, mode, ...(credentials ? { credentials } : {}) });
    await sub.expect('subscribed', START_TIMEOUT_MS);

    let publisher: LoadClient;
    let awaitKey: { publisher: string; channel: string } | undefined;
    if (!members) {
      const plain = await openPlainPublisher(broker.url, id);
      endPublisher = plain.end;
      publisher = plain.load;
    } else {
      const [pubMember] = members;
      const pub = new SecureMqttClient(
        broker.url,
        pubMember.options({
          ...(mode === 'amortised' ? { amortise: BENCH_AMORTISE } : {}),
          mqtt: { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10_000 },
        }),
      );
      endPublisher = () => pub.endAsync().catch(() => pub.endAsync(true));
      pub.on('error', (err) => closing || opts.log?.(`${name}: ${pubMember.identity.id}: ${err.message}`));
      await pub.connect();
      publisher = securePublisher(pub);
      if (mode === 'amortised') {
        const channel = pub.keyManager?.channelFor(topic);
        if (channel === undefined) throw new Error(`${name}: no channel for ${topic}`);
        awaitKey = { publisher: pubMember.identity.id, channel };
      }
    }
    sub.send({ type: 'go', ...(awaitKey ? { awaitKey } : {}) });
    await sub.expect('ready', READY_TIMEOUT_MS);

    const base = { publisher, subscriber: sub, topic, payloadBytes, window };
    const events = (): string => (secure ? `; security events: ${sub?.security.join('; ') || 'none'}` : '');
    // Secure modes: the first messages may wait for the subscriber's key request and the publisher's grant.
    const warm = await sub.during(runLoad({ ...base, count: warmup, ...(secure ? { idleTimeoutMs: 30_000 } : {}) }));
    if (warm.lost > 0 || warm.error) throw new Error(`${name} warm-up failed: ${warm.error ?? `${warm.lost} lost`}${events()}`);
    opts.log?.(`${name}: ${count} messages of ${payloadBytes} bytes, QoS 1, window ${window}, subscriber in process ${sub.pid}`);
    const pids = { 'bench process': process.pid, subscriber: sub.pid, Mosquitto: broker.pid };
    const cpuBefore = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMs(pid)]));
    const t0 = performance.now();
    const result = await sub.during(runLoad({ ...base, count }));
    const shares = cpuShares(pids, cpuBefore, performance.now() - t0);
    if (shares) opts.log?.(`${name}: CPU over the measured run (100% = one core): ${shares}`);
    if (result.lost > 0 || result.error || result.duplicates > 0 || sub.security.length > 0) {
      throw new Error(
        `${name}: ${result.lost} of ${count} lost, ${result.duplicates} duplicates${result.error ? `: ${result.error}` : ''}${events()}` +
          (secure ? '' : `\n${broker.log()}`),
      );
    }
    return result;
  } finally {
    closing = true; // a connection reset while both ends and the broker go away is not news
    await Promise.allSettled([sub?.stop(), endPublisher?.()]);
    if (sub?.batching) opts.log?.(`${name}: ${sub.batching.deliveries} deliveries reported in ${sub.batching.reports} IPC messages`);
    await broker.close();
  }
}

/** The figures' names: "secure" is the amortised mode, as in the in-process benches (bench/e2e-amortised.ts). */
const KEY_OF_MODE: Record<SplitMode, string> = { plain: 'plain', signed: 'signed', amortised: 'secure' };

export async function run(opts: E2eSplitOptions = {}): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const rates: Partial<Record<SplitMode, number>> = {};
  for (const mode of ['plain', 'signed', 'amortised'] as const) {
    const r = await measureSplit(mode, opts);
    rates[mode] = r.msgPerSec;
    const key = KEY_OF_MODE[mode];
    out[`e2e.split.${key}.msgPerSec`] = r.msgPerSec;
    out[`e2e.split.${key}.p50ms`] = r.latencyMs.p50;
    out[`e2e.split.${key}.p99ms`] = r.latencyMs.p99;
  }
  const plain = rates.plain;
  for (const mode of ['signed', 'amortised'] as const) {
    const v = rates[mode];
    if (plain && v !== undefined) out[`e2e.split.${KEY_OF_MODE[mode]}.ratioPlain`] = v / plain;
  }
  return out;
}
