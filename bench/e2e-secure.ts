// The secure client end to end with a Falcon signature on every message
// ("e2e.signed.*"; the amortised mode, "e2e.secure.*", is bench/e2e-amortised.ts,
// which reuses measureE2e): SecureMqttClient (MQTT 5, QoS 1, 256-byte
// payloads) through a Mosquitto started for the run on 127.0.0.1, one
// publisher and one subscriber, driven by bench/mqtt-load.ts like the plain
// baseline (bench/e2e-plain.ts): at most 16 unacknowledged publishes, at most
// 256 published but not yet delivered. Mosquitto runs without persistence and
// with its default limits.
//
// Each message is sealed (sequence number, AES-256-GCM under the channel's
// epoch key, Falcon-512 signature) by the publisher and verified and opened by
// the subscriber before the application sees it; keys are distributed first
// (a warm-up run: certificate announcements, key request, grant), so the
// figures are the steady state.
//
// The publisher signs on its own thread; "e2e.signedWorker.*" is the same run
// with the publisher signing on a worker thread (SIGN_ON_WORKER).
//
// Figures: "e2e.signed.msgPerSec" (delivered at the subscriber per second),
// "e2e.signed.p50ms" / "e2e.signed.p99ms" (from the publish call to verified
// delivery; with a full window a message also waits for the seals of the
// messages before it: sealing is one at a time per channel).
// "e2e.signed.ratioPlain": every measured round is paired with a round of plain
// mqtt.js clients on the same broker (PairedRounds below), and the ratio is the
// median of the per-round ratios; "e2e.signed.pairedPlainMsgPerSec" is the
// median of those plain rounds (e2e.plain.* is bench/e2e-plain.ts's own run).
// quick: 1,000 messages (after 200 warm-up), else 20,000 (after 2,000: the
// warm-up also lets the JIT settle; a 2,000-message run measured 1,600 msg/s
// where the same process's third run reached 3,100).

import { randomBytes } from 'node:crypto';
import { SecureMqttClient, type SecureClientOptions } from '../src/client/index.js';
import { makeFleet } from '../test/support/fleet.js';
import { startMosquitto } from '../test/support/mosquitto.js';
import { nodeSignWorker } from '../src/worker/node-spawn.js';
import { BENCH_BROKER, connectPlainPair, runLoad, type LoadClient, type LoadResult } from './mqtt-load.js';
import { median } from './stats.js';

export interface E2eSecureOptions {
  readonly quick?: boolean;
  /** Measured messages (default 20,000; quick 1,000), after `warmup` (default 2,000; quick 200). */
  readonly count?: number;
  readonly warmup?: number;
  readonly log?: (message: string) => void;
  /** Measured runs of `count` messages; the median one is reported (default 1). */
  readonly rounds?: number;
}

/**
 * The ratio to plain MQTT from paired rounds: every measured round of the secure clients is paired with a round of
 * plain mqtt.js clients on the same broker, in the same process, right before or after it (the order alternates, so
 * a machine that speeds up or slows down during the run favours neither). On this 2-core VM plain rounds varied by
 * ±30% over a bench run; a ratio against a plain figure measured minutes earlier mostly measured that drift.
 */
export interface PairedRounds {
  /** Every round's secure and plain msg/s, in running order. */
  readonly secure: number[];
  readonly plain: number[];
  /** The median of the per-round ratios secure / plain. */
  readonly ratio: number;
}

/** Runs `rounds` secure rounds, each paired with a plain round (see PairedRounds); returns the median secure round. */
export async function pairedRounds(
  secure: Parameters<typeof runLoad>[0],
  plain: Parameters<typeof runLoad>[0],
  rounds: number,
  check: (result: LoadResult, which: 'secure' | 'plain') => void,
): Promise<{ median: LoadResult; paired: PairedRounds }> {
  const results: LoadResult[] = [];
  const plainRates: number[] = [];
  const measure = async (which: 'secure' | 'plain'): Promise<LoadResult> => {
    const r = await runLoad(which === 'secure' ? secure : plain);
    check(r, which);
    return r;
  };
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      plainRates.push((await measure('plain')).msgPerSec);
      results.push(await measure('secure'));
    } else {
      results.push(await measure('secure'));
      plainRates.push((await measure('plain')).msgPerSec);
    }
  }
  const sorted = [...results].sort((a, b) => a.msgPerSec - b.msgPerSec);
  const secureRates = results.map((r) => r.msgPerSec);
  return {
    median: sorted[Math.floor((sorted.length - 1) / 2)]!,
    paired: { secure: secureRates, plain: plainRates, ratio: median(secureRates.map((v, i) => v / plainRates[i]!)) },
  };
}

/** A connected SecureMqttClient seen as a load client: QoS 1 publishes, opened plaintexts delivered. */
function secureLoadClient(client: SecureMqttClient): LoadClient {
  return {
    async publish(topic: string, payload: Uint8Array): Promise<void> {
      await client.publishAsync(topic, payload, { qos: 1 });
    },
    onMessage(cb: (topic: string, payload: Uint8Array) => void): () => void {
      const listener = (topic: string, payload: Uint8Array): void => cb(topic, payload);
      client.on('message', listener);
      return () => {
        client.off('message', listener);
      };
    },
    get receiveMaximum(): number | undefined {
      return client.mqttClient?.serverProperties?.receiveMaximum;
    },
  };
}

/** The "...Worker" e2e figures: the publisher signs on one worker thread (signWorkers), the others on its own thread. */
export const SIGN_ON_WORKER: Partial<SecureClientOptions> = { signWorkers: { spawn: nodeSignWorker } };

/** One end-to-end run: what differs between the signed and the amortised mode. */
export interface E2eRun extends E2eSecureOptions {
  /** 'signed', 'secure' (the amortised mode) or their ...Worker forms: the log prefix, the topic and the figures' names. */
  readonly name: string;
  readonly publisherOptions?: Partial<SecureClientOptions>;
  readonly subscriberOptions?: Partial<SecureClientOptions>;
  /** Runs after both are connected and subscribed, before the warm-up. */
  readonly ready?: (pub: SecureMqttClient, sub: SecureMqttClient, topic: string, publisherId: string) => Promise<void>;
}

/** Starts a Mosquitto, connects a secure publisher and subscriber, warms up, measures; throws on any loss. */
export async function measureE2e(opts: E2eRun): Promise<Record<string, number>> {
  const { name } = opts;
  const count = opts.count ?? (opts.quick ? 1_000 : 20_000);
  const warmup = opts.warmup ?? (opts.quick ? 200 : 2_000);
  const payloadBytes = 256;
  const window = 16;
  const id = randomBytes(4).toString('hex');
  const topic = `bench/${name}/${id}/data`;

  const fleet = await makeFleet();
  const [pubMember, subMember] = await Promise.all([
    fleet.member(`bench-pub-${id}`, { publish: [topic] }),
    fleet.member(`bench-sub-${id}`, { subscribe: [`bench/${name}/${id}/#`] }),
  ]);
  const broker = await startMosquitto(BENCH_BROKER);
  const clients: SecureMqttClient[] = [];
  let closePlain: (() => Promise<void>) | undefined;
  let closing = false;
  try {
    const open = async (member: typeof pubMember, extra: Partial<SecureClientOptions> = {}): Promise<SecureMqttClient> => {
      const client = new SecureMqttClient(broker.url, member.options({ ...extra, mqtt: { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10_000 } }));
      clients.push(client);
      client.on('error', (err) => closing || opts.log?.(`e2e-${name}: ${member.identity.id}: ${err.message}`));
      await client.connect();
      return client;
    };
    const sub = await open(subMember, opts.subscriberOptions);
    await sub.subscribeAsync(`bench/${name}/${id}/#`, { qos: 1 });
    const pub = await open(pubMember, opts.publisherOptions);
    const security: string[] = [];
    sub.on('security', (e) => security.push(`${e.code}: ${e.message}`));
    await opts.ready?.(pub, sub, topic, pubMember.identity.id);

    const base = { publisher: secureLoadClient(pub), subscriber: secureLoadClient(sub), topic, payloadBytes, window };
    // Warm-up: the first messages wait for the subscriber's key request and the publisher's grant.
    const warm = await runLoad({ ...base, count: warmup, idleTimeoutMs: 30_000 });
    if (warm.lost > 0 || warm.error) throw new Error(`e2e-${name} warm-up failed: ${warm.error ?? `${warm.lost} lost`}; security events: ${security.join('; ')}`);
    // The plain pair of the paired rounds: the same broker, payloads, window and count as bench/e2e-plain.ts.
    const plainPair = await connectPlainPair(broker.url, { protocolVersion: 5 });
    closePlain = () => plainPair.close();
    const plainBase = { publisher: plainPair.publisher, subscriber: plainPair.subscriber, topic: plainPair.topic, payloadBytes, window };
    const plainWarm = await runLoad({ ...plainBase, count: warmup });
    if (plainWarm.lost > 0 || plainWarm.error) throw new Error(`e2e-${name}: plain warm-up failed: ${plainWarm.error ?? `${plainWarm.lost} lost`}`);
    opts.log?.(`e2e-${name}: ${count} messages of ${payloadBytes} bytes, QoS 1, window ${window}, each round paired with a plain round`);
    const { median: result, paired } = await pairedRounds({ ...base, count }, { ...plainBase, count }, opts.rounds ?? 1, (r, which) => {
      if (r.lost > 0 || r.error || r.duplicates > 0 || security.length > 0) {
        throw new Error(
          `e2e-${name}${which === 'plain' ? ' (its plain round)' : ''}: ${r.lost} of ${count} lost, ${r.duplicates} duplicates${r.error ? `: ${r.error}` : ''}; security events: ${security.join('; ') || 'none'}`,
        );
      }
    });
    const rates = (v: number[]): string => v.map((x) => x.toFixed(0)).join(', ');
    opts.log?.(`e2e-${name}: rounds ${rates(paired.secure)} msg/s (median kept), paired plain rounds ${rates(paired.plain)}, ratio ${paired.ratio.toFixed(3)}`);
    return {
      [`e2e.${name}.msgPerSec`]: result.msgPerSec,
      [`e2e.${name}.p50ms`]: result.latencyMs.p50,
      [`e2e.${name}.p99ms`]: result.latencyMs.p99,
      [`e2e.${name}.pairedPlainMsgPerSec`]: median(paired.plain),
      [`e2e.${name}.ratioPlain`]: paired.ratio,
    };
  } finally {
    closing = true; // a connection reset while both ends and the broker go away is not news
    await Promise.all([...clients.map((c) => c.endAsync().catch(() => c.endAsync(true))), closePlain?.()]);
    await broker.close();
  }
}

export async function run(opts: E2eSecureOptions = {}): Promise<Record<string, number>> {
  return {
    ...(await measureE2e({ ...opts, name: 'signed' })),
    ...(await measureE2e({ ...opts, name: 'signedWorker', publisherOptions: SIGN_ON_WORKER })),
  };
}
