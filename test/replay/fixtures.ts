// What the replay tests share: a clock moved by hand (the guard's injection
// point, not a patch of Date), what the protocol does with an authentic
// message (check, then accept), and temporary directories removed after the file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SecurityError } from '../../src/errors.js';
import type { ReplayGuard, StreamKey } from '../../src/replay/guard.js';

export function manualClock(start: number): { now: () => number; set: (t: number) => void } {
  let t = start;
  return { now: () => t, set: (v) => void (t = v) };
}

/** check, then accept: the outcome ('delivered', the check's code, or 'accept:' and accept's code). */
export async function deliver(guard: ReplayGuard, k: StreamKey, seq: number, ts: number): Promise<string> {
  const verdict = guard.check(k, seq, ts);
  if (!verdict.ok) return verdict.code;
  try {
    await guard.accept(k, seq, ts);
    return 'delivered';
  } catch (err) {
    if (err instanceof SecurityError) return `accept:${err.code}`;
    throw err;
  }
}

/** A fresh temporary directory, removed after the calling test file (call at its top level or in its tests). */
export function tempDirs(prefix: string): () => Promise<string> {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
}
