// Baseline for the secure client: plain mqtt.js (MQTT 5, QoS 1, 256-byte
// payloads) through a Mosquitto started for the run on 127.0.0.1, one
// publisher and one subscriber, at most 16 unacknowledged publishes (see
// bench/mqtt-load.ts). Mosquitto runs without persistence and with its
// default limits (max_inflight_messages 20, max_queued_messages 1000).
//
// Figures: "e2e.plain.msgPerSec" (delivered at the subscriber per second),
// "e2e.plain.p50ms" / "e2e.plain.p99ms" (publish call to delivery).
// quick: 2,000 messages (after 200 warm-up), else 20,000 (after 2,000, as the secure runs); measured
// E2E_ROUNDS times on the same clients, the median round kept (as the amortised runs).

import { startMosquitto } from '../test/support/mosquitto.js';
import { BENCH_BROKER, E2E_ROUNDS, connectPlainPair, runLoad, runRounds } from './mqtt-load.js';

export interface E2ePlainOptions {
  readonly quick?: boolean;
  readonly log?: (message: string) => void;
}

export async function run(opts: E2ePlainOptions = {}): Promise<Record<string, number>> {
  const count = opts.quick ? 2_000 : 20_000;
  const warmup = opts.quick ? 200 : 2_000;
  const payloadBytes = 256;
  const window = 16;

  const broker = await startMosquitto(BENCH_BROKER);
  try {
    const pair = await connectPlainPair(broker.url, { protocolVersion: 5 });
    try {
      const base = { publisher: pair.publisher, subscriber: pair.subscriber, topic: pair.topic, payloadBytes, window };
      const warm = await runLoad({ ...base, count: warmup });
      if (warm.lost > 0 || warm.error) throw new Error(`e2e-plain warm-up failed: ${warm.error ?? `${warm.lost} lost`}`);
      const { median: result, msgPerSec } = await runRounds({ ...base, count }, E2E_ROUNDS, (r) => {
        if (r.lost > 0 || r.error || r.duplicates > 0) {
          throw new Error(`e2e-plain: ${r.lost} of ${count} lost, ${r.duplicates} duplicates${r.error ? `: ${r.error}` : ''}\n${broker.log()}`);
        }
      });
      opts.log?.(`e2e-plain: rounds ${msgPerSec.map((v) => v.toFixed(0)).join(', ')} msg/s (median kept)`);
      return {
        'e2e.plain.msgPerSec': result.msgPerSec,
        'e2e.plain.p50ms': result.latencyMs.p50,
        'e2e.plain.p99ms': result.latencyMs.p99,
      };
    } finally {
      await pair.close();
    }
  } finally {
    await broker.close();
  }
}
