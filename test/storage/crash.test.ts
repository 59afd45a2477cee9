// The crash test: a child allocates sequence numbers from FileStorage and puts
// each on "the wire" (its stdout pipe); we kill it with SIGKILL at random
// moments, many times, restart it on the same directory, and check that no
// number ever reached the wire twice and that numbers only increase across
// restarts. Runs: CRASH_RUNS (default 40).
//
// SIGKILL tests the process dying at any instruction, including in the middle
// of a reservation; it does not test power loss (the page cache survives a
// killed process), which the fsyncs in FileStorage are for.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { FileStorage } from '../../src/storage/file.js';

const RUNS = Number(process.env.CRASH_RUNS ?? 40);
const BLOCK = 7;
const CHILD = fileURLToPath(new URL('../support/crash-child.ts', import.meta.url));

interface Run {
  numbers: number[];
  /** The last marker seen was "S": killed while a reservation was being written. */
  midReservation: boolean;
}

let dir = '';
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Deterministic per run, so a failure names a reproducible schedule. */
function schedule(run: number): { kind: 'startup' | 'timed' | 'reservation'; delayMs: number } {
  const r = (Math.imul(run + 1, 2654435761) >>> 0) / 2 ** 32;
  const r2 = (Math.imul(run + 7, 40503) >>> 0) % 1000;
  if (run % 10 === 0) return { kind: 'startup', delayMs: r2 % 700 }; // maybe before "O": during open
  if (run % 3 === 0) return { kind: 'reservation', delayMs: r2 % 40 }; // at the first "S" after a delay
  return { kind: 'timed', delayMs: Math.floor(r * 80) }; // at any moment after open
}

function runChild(run: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const { kind, delayMs } = schedule(run);
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(BLOCK)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let opened = false;
    let armed = false;
    const kill = (): void => {
      child.kill('SIGKILL');
    };
    if (kind === 'startup') setTimeout(kill, delayMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (!opened && out.includes('O\n')) {
        opened = true;
        if (kind === 'timed') setTimeout(kill, delayMs);
        if (kind === 'reservation') setTimeout(() => (armed = true), delayMs);
      }
      if (armed && chunk.includes('S')) {
        armed = false;
        kill();
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (err += chunk));
    const watchdog = setTimeout(kill, 10_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      if (signal !== 'SIGKILL') {
        reject(new Error(`run ${run}: child exited with ${code ?? signal}: ${err}`));
        return;
      }
      const lines = out.split('\n');
      lines.pop(); // text after the last newline: a line never completed (cannot happen with atomic writes)
      const numbers = lines.filter((l) => /^[0-9]+$/.test(l)).map(Number);
      const markers = lines.filter((l) => l === 'S' || l === 's');
      resolve({ numbers, midReservation: markers.at(-1) === 'S' });
    });
  });
}

it(`never puts a sequence number on the wire twice across ${RUNS} SIGKILLs`, { timeout: 120_000 + RUNS * 3_000 }, async () => {
  dir = await mkdtemp(join(tmpdir(), 'pqc-iiot-crash-'));
  const seen = new Set<number>();
  let highest = -1;
  let midReservation = 0;
  let tempFiles = 0;
  let runsWithNumbers = 0;
  let skipped = 0;
  for (let run = 0; run < RUNS; run++) {
    const temps = (await readdir(dir)).filter((n) => n.startsWith('.tmp-')).length;
    tempFiles += temps;
    const result = await runChild(run);
    if (result.midReservation) midReservation++;
    if (result.numbers.length > 0) runsWithNumbers++;
    // Within a run, concurrent callers may put their numbers on the wire in any order; across
    // restarts, every number of a run is above every number of the runs before it.
    for (const n of result.numbers) {
      expect(seen.has(n), `run ${run}: ${n} was already on the wire`).toBe(false);
      expect(n, `run ${run}: ${n} is not above ${highest}, the highest before this restart`).toBeGreaterThan(highest);
      seen.add(n);
    }
    if (result.numbers.length > 0) {
      const top = Math.max(...result.numbers);
      skipped += top - highest - result.numbers.length;
      highest = top;
    }
  }
  // The durable mark is above everything that reached the wire.
  const bytes = await (await FileStorage.open(dir)).get('seq/crash-test');
  const mark = Number(new DataView(bytes!.buffer, bytes!.byteOffset).getBigUint64(0));
  expect(mark).toBeGreaterThan(highest);
  // Restarts skip only the unused rest of reserved blocks: at most two blocks (and a batch in flight) per run.
  expect(skipped).toBeLessThanOrEqual(RUNS * (2 * BLOCK + 3));
  expect(runsWithNumbers).toBeGreaterThan(RUNS / 2);
  expect(midReservation, 'no kill landed during a reservation').toBeGreaterThan(0);
  console.log(
    `crash test: ${RUNS} kills, ${seen.size} distinct numbers on the wire (highest ${highest}), ` +
      `${midReservation} kills during a reservation, ${tempFiles} torn temporary files cleaned up, ${skipped} numbers skipped`,
  );
});
