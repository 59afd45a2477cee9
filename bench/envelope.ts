// Envelope costs: latency of sealing and opening a group data envelope with a
// 256-byte payload through the KeyManager (sequence number, AES-256-GCM,
// Falcon-512 signature / verification, replay window), and the bytes each
// envelope adds to a 256-byte payload.
//
//   "envelope.seal256.p50ms"    median KeyManager.sealData latency (ms)
//   "envelope.open256.p50ms"    median KeyManager.openData latency (ms)
//   "envelope.overhead.signed"  bytes a direct envelope (hybrid KEM + AEAD + signature) adds (median)
//   "envelope.overhead.group"   bytes a group envelope adds (median)
//
// Sealing is dominated by Falcon signing (an expanded key on the fast f64
// build); the amortised mode (bench/e2e-amortised.ts) signs once per batch.

import { sealDirect } from '../src/protocol/direct.js';
import { envelopePair } from './envelope-pair.js';
import { median } from './stats.js';
import type { BenchOptions, BenchResult } from './types.js';

const PAYLOAD = 256;

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const messages = opts.quick ? 200 : 2000;
  const now = Date.now();
  const pair = await envelopePair();
  const { pub, sub, hmi, plcCert } = pair;
  try {
    const payload = new Uint8Array(PAYLOAD).fill(0x5a);
    const topic = pair.topic;
    opts.log(`envelope: sealing and opening ${messages} group envelopes of ${PAYLOAD} bytes`);
    for (let i = 0; i < 20; i++) await sub.openData(await pub.sealData(topic, payload), topic); // warm-up

    const sealed: Uint8Array[] = [];
    const sealMs: number[] = [];
    for (let i = 0; i < messages; i++) {
      const t = performance.now();
      sealed.push(await pub.sealData(topic, payload));
      sealMs.push(performance.now() - t);
    }
    const openMs: number[] = [];
    for (const bytes of sealed) {
      const t = performance.now();
      await sub.openData(bytes, topic);
      openMs.push(performance.now() - t);
    }
    const directs: number[] = [];
    for (let i = 0; i < 31; i++) {
      const bytes = await sealDirect({ sender: hmi, recipient: plcCert, topic: 'bench/cmd/x', payload, seq: i, now });
      directs.push(bytes.length - PAYLOAD);
    }
    return {
      'envelope.seal256.p50ms': median(sealMs),
      'envelope.open256.p50ms': median(openMs),
      'envelope.overhead.signed': median(directs),
      'envelope.overhead.group': median(sealed.map((b) => b.length - PAYLOAD)),
    };
  } finally {
    await pair.close();
  }
}
