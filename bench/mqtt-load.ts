// Load generation through a real MQTT broker: one publisher, one subscriber,
// N messages of S bytes at QoS 1, with a bounded in-flight window, measuring
// throughput (messages delivered at the subscriber per second) and per-message
// latency (from the publish call to delivery at the subscriber).
//
// The clients are seen through `LoadClient`, so the same run can drive plain
// mqtt.js (`mqttJsLoadClient`) and, later, the SDK's secure client: publish
// resolves when the broker has acknowledged the message (PUBACK for QoS 1) and
// onMessage delivers what the application sees (for a secure client, the
// opened plaintext).
//
// Flow control, because Mosquitto drops QoS 1 messages beyond its limits:
// - at most `window` publishes are unacknowledged at any time (default 16),
//   and never more than the broker's Receive Maximum when the client knows it
//   (MQTT 5 CONNACK; Mosquitto announces max_inflight_messages, default 20);
// - at most `maxUndelivered` messages are published but not yet delivered
//   (default 256), so a slow subscriber cannot make the broker's per-client
//   queue overflow (Mosquitto's max_queued_messages, default 1000).
//
// Every payload starts with an 8-byte header: a 32-bit run tag and a 32-bit
// sequence number (big-endian); the rest is filler. Deliveries with another
// tag (a previous run, a retained message) are ignored; duplicates and
// out-of-order deliveries are counted. A run never throws for lost messages:
// it waits until every message arrived or nothing arrived for `idleTimeoutMs`,
// then reports `lost`; callers decide (benchmarks should refuse figures with
// losses).

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connect } from 'mqtt';
import type { IClientOptions, IConnackPacket, MqttClient } from 'mqtt';

/** What a load run needs from a client (plain or secure). */
export interface LoadClient {
  /** Publishes at QoS 1 (or whatever the client was built for); resolves once the broker acknowledged it. */
  publish(topic: string, payload: Uint8Array): Promise<void>;
  /**
   * Calls `cb` for every application message received; returns a function that removes the callback.
   * `receivedAt` (this process's performance.now() timeline, ms): when the message was delivered, for a
   * subscriber whose deliveries reach the run later than they happened (one in another process); without it
   * the run takes the callback's own time.
   */
  onMessage(cb: (topic: string, payload: Uint8Array, receivedAt?: number) => void): () => void;
  /** The broker's Receive Maximum if the client knows it (MQTT 5); undefined otherwise. */
  readonly receiveMaximum?: number | undefined;
}

export interface LoadOptions {
  readonly publisher: LoadClient;
  readonly subscriber: LoadClient;
  /** The subscriber must already be subscribed to it. */
  readonly topic: string;
  /** Number of messages (default 1,000). */
  readonly count?: number;
  /** Payload size in bytes, at least 8 (default 256). */
  readonly payloadBytes?: number;
  /** Maximum unacknowledged publishes (default 16; capped by the publisher's receiveMaximum). */
  readonly window?: number;
  /** Maximum published but not yet delivered messages (default 256). */
  readonly maxUndelivered?: number;
  /** Give up when nothing was acknowledged or delivered for this long (default 10 s). */
  readonly idleTimeoutMs?: number;
}

export interface LatencySummary {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export interface LoadResult {
  readonly count: number;
  readonly payloadBytes: number;
  /** The window actually used. */
  readonly window: number;
  readonly delivered: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
  /** First publish call to last delivery (or to the give-up moment). */
  readonly elapsedMs: number;
  /** delivered / elapsed. */
  readonly msgPerSec: number;
  /** Publish call to delivery, in milliseconds, over delivered messages (NaN when none). */
  readonly latencyMs: LatencySummary;
  /** Set when the run stopped early: a publish failed or nothing moved for idleTimeoutMs. */
  readonly error?: string;
}

const HEADER_BYTES = 8;

/**
 * The broker configuration of every e2e bench (plain and secure alike).
 * Mosquitto leaves Nagle's algorithm on by default (`set_tcp_nodelay false`).
 * A publisher that sent a burst and waits for its PUBACKs then sends nothing
 * more. Its kernel delays the TCP ACK (up to 40 ms on Linux), and Mosquitto's
 * Nagle holds the following PUBACKs until that ACK arrives. Measured here:
 * with crypto fast enough to seal 16 messages in one burst, every batch
 * stalled ~37 ms (440 msg/s). Mosquitto's own remedy is `set_tcp_nodelay true`,
 * and the README recommends it for high-rate telemetry.
 */
export const BENCH_BROKER = { extraConfig: ['set_tcp_nodelay true'] } as const;

/** Percentile (nearest rank) of an ascending array; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[rank - 1] as number;
}

export function summarize(samples: Float64Array): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

/** Runs one load test; resolves when every message was delivered or the run gave up (see `lost`, `error`). */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const count = options.count ?? 1_000;
  const payloadBytes = options.payloadBytes ?? 256;
  const idleTimeoutMs = options.idleTimeoutMs ?? 10_000;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`runLoad: count must be a positive integer, got ${count}`);
  if (!Number.isInteger(payloadBytes) || payloadBytes < HEADER_BYTES) {
    throw new RangeError(`runLoad: payloadBytes must be an integer >= ${HEADER_BYTES}, got ${payloadBytes}`);
  }
  const receiveMaximum = options.publisher.receiveMaximum;
  const window = Math.max(1, Math.min(options.window ?? 16, receiveMaximum ?? Number.POSITIVE_INFINITY));
  const maxUndelivered = Math.max(window, options.maxUndelivered ?? 256);

  const tag = randomBytes(4).readUInt32BE(0);
  const filler = randomBytes(payloadBytes);
  const sentAt = new Float64Array(count);
  const latency = new Float64Array(count);
  const seen = new Uint8Array(count);
  let delivered = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let highestSeq = -1;
  let lastDeliveryAt = 0;
  let lastProgressAt = performance.now();
  let error: string | undefined;

  // One waiter at a time: the publishing loop, or the final wait.
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  const stopListening = options.subscriber.onMessage((_topic, payload, receivedAt) => {
    const now = receivedAt ?? performance.now();
    if (payload.byteLength < HEADER_BYTES) return;
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    if (view.getUint32(0) !== tag) return;
    const seq = view.getUint32(4);
    if (seq >= count) return;
    if (seen[seq]) {
      duplicates += 1;
      return;
    }
    seen[seq] = 1;
    latency[delivered] = now - (sentAt[seq] as number);
    delivered += 1;
    if (seq < highestSeq) outOfOrder += 1;
    else highestSeq = seq;
    lastDeliveryAt = now;
    lastProgressAt = now;
    notify();
  });

  // Waits for a notification or the idle deadline; false when idle for too long.
  const idleTimer = { handle: undefined as NodeJS.Timeout | undefined };
  const waitForProgress = (): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const remaining = lastProgressAt + idleTimeoutMs - performance.now();
      if (remaining <= 0) {
        resolve(false);
        return;
      }
      idleTimer.handle = setTimeout(() => {
        wake = undefined;
        resolve(performance.now() - lastProgressAt < idleTimeoutMs);
      }, remaining + 1);
      wake = () => {
        clearTimeout(idleTimer.handle);
        resolve(true);
      };
    });

  let inFlight = 0;
  const startedAt = performance.now();
  try {
    for (let seq = 0; seq < count && error === undefined; seq += 1) {
      while (error === undefined && (inFlight >= window || seq - delivered >= maxUndelivered)) {
        if (!(await waitForProgress())) error = `no progress for ${idleTimeoutMs} ms (published ${seq}, acknowledged ${seq - inFlight}, delivered ${delivered})`;
      }
      if (error !== undefined) break;
      const payload = new Uint8Array(payloadBytes);
      payload.set(filler);
      const view = new DataView(payload.buffer);
      view.setUint32(0, tag);
      view.setUint32(4, seq);
      inFlight += 1;
      sentAt[seq] = performance.now();
      options.publisher.publish(options.topic, payload).then(
        () => {
          inFlight -= 1;
          lastProgressAt = performance.now();
          notify();
        },
        (err: unknown) => {
          inFlight -= 1;
          error ??= `publish ${seq} failed: ${err instanceof Error ? err.message : String(err)}`;
          notify();
        },
      );
    }
    while (error === undefined && delivered < count) {
      if (!(await waitForProgress())) error = `gave up after ${idleTimeoutMs} ms without a delivery (${delivered}/${count} delivered)`;
    }
  } finally {
    clearTimeout(idleTimer.handle);
    wake = undefined;
    stopListening();
  }

  const end = delivered === count ? lastDeliveryAt : performance.now();
  const elapsedMs = end - startedAt;
  const result: LoadResult = {
    count,
    payloadBytes,
    window,
    delivered,
    lost: count - delivered,
    duplicates,
    outOfOrder,
    elapsedMs,
    msgPerSec: elapsedMs > 0 ? (delivered * 1000) / elapsedMs : Number.NaN,
    latencyMs: summarize(latency.subarray(0, delivered)),
    ...(error !== undefined ? { error } : {}),
  };
  return result;
}

// ---------------------------------------------------------------------------
// mqtt.js adapters

/** Wraps a connected (or connecting) mqtt.js client; QoS 1 by default. */
export function mqttJsLoadClient(client: MqttClient, qos: 0 | 1 | 2 = 1): LoadClient {
  let receiveMaximum: number | undefined;
  client.on('connect', (packet: IConnackPacket) => {
    receiveMaximum = packet.properties?.receiveMaximum;
  });
  return {
    async publish(topic: string, payload: Uint8Array): Promise<void> {
      const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
      await client.publishAsync(topic, buf, { qos });
    },
    onMessage(cb: (topic: string, payload: Uint8Array) => void): () => void {
      const handler = (topic: string, payload: Buffer): void => cb(topic, payload);
      client.on('message', handler);
      return () => {
        client.removeListener('message', handler);
      };
    },
    get receiveMaximum(): number | undefined {
      return receiveMaximum;
    },
  };
}

/** Resolves on the client's first CONNACK; on an error before it, ends the client and rejects. */
export function whenConnected(client: MqttClient): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      client.end(true);
      reject(err);
    };
    client.once('error', onError);
    client.once('connect', () => {
      client.removeListener('error', onError);
      resolve();
    });
  });
}

export interface PlainPair {
  readonly publisher: LoadClient;
  readonly subscriber: LoadClient;
  readonly topic: string;
  readonly clients: readonly [MqttClient, MqttClient];
  /** Ends both clients. */
  close(): Promise<void>;
}

/** Connects a plain mqtt.js publisher and subscriber to `url` and subscribes the latter to a fresh topic at QoS 1. */
export async function connectPlainPair(
  url: string,
  options: { readonly protocolVersion?: 4 | 5; readonly clientOptions?: IClientOptions; readonly topic?: string } = {},
): Promise<PlainPair> {
  const protocolVersion = options.protocolVersion ?? 5;
  const id = randomBytes(4).toString('hex');
  const topic = options.topic ?? `bench/load/${id}`;
  const base: IClientOptions = { protocolVersion, reconnectPeriod: 0, connectTimeout: 10_000, ...options.clientOptions };
  const open = async (name: string): Promise<{ client: MqttClient; load: LoadClient }> => {
    const client = connect(url, { ...base, clientId: `load-${name}-${id}` });
    const load = mqttJsLoadClient(client);
    await whenConnected(client);
    return { client, load };
  };
  const sub = await open('sub');
  let pub: { client: MqttClient; load: LoadClient };
  try {
    await sub.client.subscribeAsync(topic, { qos: 1 });
    pub = await open('pub');
  } catch (err) {
    await sub.client.endAsync(true);
    throw err;
  }
  return {
    publisher: pub.load,
    subscriber: sub.load,
    topic,
    clients: [pub.client, sub.client],
    async close(): Promise<void> {
      await Promise.all([pub.client.endAsync(), sub.client.endAsync()]);
    },
  };
}

/** Measured rounds of the plain and amortised e2e benches (median kept; the per-message-signature runs take one). */
export const E2E_ROUNDS = 5;

/**
 * The amortised publishers' batching in the e2e benches: one manifest per 256 messages or 25 ms, whichever comes
 * first, so a message waits at most ~37 ms (1.5 x maxDelayMs, docs/PROTOCOL.md) for its manifest, and at these rates
 * (~12,000 msg/s) a batch fills in ~21 ms. Against the default maxBatch 64 it measured ~5% more msg/s here (one Falcon
 * signature and one manifest verification per 256 messages instead of 64); the e2e.secure*.p50ms / p99ms figures
 * are the latency it costs.
 */
export const BENCH_AMORTISE = { maxBatch: 256, maxDelayMs: 25 } as const;

/**
 * `rounds` load runs one after the other on the same clients; the one with the median throughput is returned
 * (its latencies with it), with every round's msg/s. One run on this 2-core VM varied by up to ±30% from run to
 * run within one bench process; the median of a few is steadier. Every round must pass `check` (losses etc.).
 */
export async function runRounds(
  options: LoadOptions,
  rounds: number,
  check: (result: LoadResult) => void,
): Promise<{ median: LoadResult; msgPerSec: number[] }> {
  const results: LoadResult[] = [];
  for (let i = 0; i < rounds; i++) {
    const r = await runLoad(options);
    check(r);
    results.push(r);
  }
  const sorted = [...results].sort((a, b) => a.msgPerSec - b.msgPerSec);
  return { median: sorted[Math.floor((sorted.length - 1) / 2)]!, msgPerSec: results.map((r) => r.msgPerSec) };
}
