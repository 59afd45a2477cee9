// init(): time from the call to its resolution in a fresh Node process each time (cold module cache,
// nothing compiled yet: wasm compile + instantiate + the known-answer self-test), median over several
// processes. Keys: init.ms, init.importMs (the import before it), init.fromDist (1 when measured on the
// built dist/bindings.js with plain node, 0 when on bindings/*.ts through `node --import tsx`).
// dist/ is used when it is present and not older than bindings/*.ts: it is what users load.

import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { median } from './stats.js';
import { repoRoot, type BenchOptions, type BenchResult } from './types.js';

const exec = promisify(execFile);
const child = join(repoRoot, 'bench', 'init-child.mjs');

function distIsCurrent(entry: string): boolean {
  if (!existsSync(entry)) return false;
  const dir = join(repoRoot, 'bindings');
  const newest = Math.max(...readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => statSync(join(dir, f)).mtimeMs));
  return statSync(entry).mtimeMs >= newest;
}

async function once(args: string[]): Promise<{ importMs: number; initMs: number }> {
  const { stdout } = await exec(process.execPath, args, { cwd: repoRoot });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { importMs: number; initMs: number };
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const runs = opts.quick ? 3 : 9;
  const dist = join(repoRoot, 'dist', 'bindings.js');
  let args: string[];
  let fromDist = distIsCurrent(dist);
  if (fromDist) {
    args = [child, pathToFileURL(dist).href];
  } else {
    opts.log('init: dist/bindings.js is missing or older than bindings/*.ts: measuring bindings/index.ts via `node --import tsx`');
    args = ['--import', 'tsx', child, pathToFileURL(join(repoRoot, 'bindings', 'index.ts')).href];
  }
  try {
    await once(args); // discarded: fills the OS file cache, not Node's
  } catch (err) {
    if (!fromDist) throw err;
    opts.log(`init: dist/bindings.js failed to init (${(err as Error).message.split('\n')[0]}); measuring the sources instead`);
    fromDist = false;
    args = ['--import', 'tsx', child, pathToFileURL(join(repoRoot, 'bindings', 'index.ts')).href];
    await once(args);
  }
  const init: number[] = [];
  const imp: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await once(args);
    init.push(r.initMs);
    imp.push(r.importMs);
  }
  opts.log(`init: ${runs} fresh processes (${fromDist ? 'node, dist/bindings.js' : 'node --import tsx, bindings/index.ts'}): ${init.map((x) => x.toFixed(1)).join(', ')} ms`);
  return { 'init.ms': median(init), 'init.importMs': median(imp), 'init.fromDist': fromDist ? 1 : 0 };
}
