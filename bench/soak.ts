// Soak: pushes messages through seal and open (KeyManager, group envelopes of
// 256 bytes, rotation every 100,000 messages with grants handed over) and
// reports how much the heap and RSS grew. `npm run soak` runs 1,000,000
// messages (--count N to change); the bench registry runs a shorter one.
//
//   "soak.messages", "soak.heapGrowthMB" (after GC, end minus start after
//   warm-up), "soak.rssGrowthMB", "soak.msgPerSec"
import { pathToFileURL } from 'node:url';
import { envelopePair } from './envelope-pair.js';
import type { BenchOptions, BenchResult } from './types.js';

const MB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;

function settle(): void {
  // Without --expose-gc the figures include garbage not yet collected: say so.
  if (gc) {
    gc();
    gc();
  }
}

export async function soak(count: number, log: (line: string) => void): Promise<BenchResult> {
  const pair = await envelopePair({ rotateAfterMessages: 100_000 });
  const { pub, sub, topic } = pair;
  const payload = new Uint8Array(256).fill(0x5a);
  try {
    const warmup = Math.min(10_000, Math.floor(count / 10));
    const roundTrip = async (): Promise<Uint8Array> => {
      const sealed = await pub.sealData(topic, payload);
      await pair.grants(); // a rotation's grant reaches the subscriber before the data that follows it
      return (await sub.openData(sealed, topic)).payload;
    };
    for (let i = 0; i < warmup; i++) await roundTrip();
    settle();
    const heap0 = process.memoryUsage().heapUsed;
    const rss0 = process.memoryUsage().rss;
    const started = performance.now();
    for (let i = 1; i <= count; i++) {
      const opened = await roundTrip();
      if (opened.length !== payload.length || opened[0] !== payload[0]) throw new Error(`message ${i} came back altered`);
      if (i % 100_000 === 0) {
        const mem = process.memoryUsage();
        log(`soak: ${i} messages, heap ${(mem.heapUsed / MB).toFixed(1)} MB, rss ${(mem.rss / MB).toFixed(1)} MB`);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    await pub.maintain();
    settle();
    const mem = process.memoryUsage();
    return {
      'soak.messages': count,
      'soak.heapGrowthMB': +((mem.heapUsed - heap0) / MB).toFixed(2),
      'soak.rssGrowthMB': +((mem.rss - rss0) / MB).toFixed(2),
      'soak.msgPerSec': Math.round(count / seconds),
      'soak.gcExposed': gc ? 1 : 0,
    };
  } finally {
    await pair.close();
  }
}

/** The bench registry's short soak (the full one is `npm run soak`). */
export async function run(opts: BenchOptions): Promise<BenchResult> {
  return soak(opts.quick ? 20_000 : 100_000, opts.log);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--count');
  const count = i > 0 ? Number(process.argv[i + 1]) : 1_000_000;
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`--count must be a positive integer, got ${process.argv[i + 1]}`);
  const result = await soak(count, (line) => console.error(line));
  console.log(JSON.stringify(result));
}
