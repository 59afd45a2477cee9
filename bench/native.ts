// "native": the pinned PQClean sources compiled with gcc -O3 and timed by our
// C driver (bench/native/bench.c); bench/core.ts interleaves its rounds with the
// JavaScript implementations' and reports them as "<alg>.<op>.native".
//
// The source list is the wasm build's own table (wasm/targets.mjs) and every
// file is checked against native/sources.lock (wasm/sources.mjs) first. Each
// Falcon variant is compiled from its own directory (its symbols carry its own
// prefix), not through the wasm build's shared-internals aliasing: the code is
// the same up to the prefix (the wasm build checks that), so the timing is too.
// Not compiled here: our native/src (the wasm randomness bridge and wiping free);
// the driver provides randombytes() with getrandom().
//
// The binary goes to bench/native-build/ (git-ignored). It is rebuilt when any
// input changes: the lock (so every pinned file), bench.c, the flags or gcc.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Contender } from './stats.js';
import { repoRoot } from './types.js';

const exec = promisify(execFile);

/** What the driver can time, as "<alg>.<op>" (the same names bench.c uses). */
export const nativeOps = [
  ...['mlkem512', 'mlkem768', 'mlkem1024'].flatMap((a) => ['keygen', 'encaps', 'decaps'].map((o) => `${a}.${o}`)),
  ...['falcon512', 'falcon1024'].flatMap((a) => ['keygen', 'sign', 'verify'].map((o) => `${a}.${o}`)),
];

interface Lock {
  readonly package: string;
  readonly version: string;
  readonly files: Record<string, string>;
}
interface SourcesModule {
  readLock(): Lock;
  verifySources(lock: Lock): { root: string; files: number };
}
interface TargetsModule {
  readonly sourceDirs: readonly string[];
  readonly aliasedFalconDirs: readonly string[];
  readonly commonSources: readonly string[];
  readonly compileFlags: readonly string[];
}

const importRepo = async <T>(rel: string): Promise<T> => (await import(pathToFileURL(join(repoRoot, rel)).href)) as T;

const buildDir = join(repoRoot, 'bench', 'native-build');
const driver = join(repoRoot, 'bench', 'native', 'bench.c');
const binary = join(buildDir, 'bench');
const stampFile = join(buildDir, 'stamp');

/** Runs at most `limit` jobs at a time. */
async function pool(jobs: Array<() => Promise<unknown>>, limit: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) await jobs[next++]!();
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

async function gcc(args: string[]): Promise<void> {
  try {
    await exec('gcc', args, { cwd: repoRoot, maxBuffer: 1 << 24 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('gcc not found: the native column needs gcc (Debian: apt-get install -y gcc).');
    throw new Error(`gcc ${args.join(' ')}\n${e.stderr ?? e.message}`);
  }
}

/** Verifies the pinned sources, then compiles (unless up to date) and returns the binary's path. */
export async function buildNative(log: (m: string) => void): Promise<string> {
  const sources = await importRepo<SourcesModule>('wasm/sources.mjs');
  const targets = await importRepo<TargetsModule>('wasm/targets.mjs');
  const lock = sources.readLock();
  const { root, files } = sources.verifySources(lock);
  log(`native: ${lock.package}@${lock.version} sources verified (${files} files match native/sources.lock)`);

  // The wasm build's flags (-O3 -ffp-contract=off, warnings), for gcc.
  const flags = targets.compileFlags.filter((f) => f !== '-mnontrapping-fptoint'); // a wasm-only flag
  const { stdout: gccVersion } = await exec('gcc', ['--version']).catch(() => ({ stdout: 'unknown' }));
  const dirs = [...targets.sourceDirs, ...targets.aliasedFalconDirs];
  const stamp = createHash('sha256')
    .update(JSON.stringify({ lock, flags, dirs, common: targets.commonSources, gccVersion }))
    .update(readFileSync(driver))
    .digest('hex');
  if (existsSync(binary) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
    log(`native: ${relative(repoRoot, binary)} is up to date`);
    return binary;
  }

  const started = Date.now();
  rmSync(buildDir, { recursive: true, force: true });
  mkdirSync(join(buildDir, 'obj'), { recursive: true });
  const units: Array<{ file: string; includes: string[] }> = [];
  for (const dir of dirs) {
    const cFiles = Object.keys(lock.files).filter((f) => f.startsWith(dir + '/') && f.endsWith('.c')).sort();
    if (cFiles.length === 0) throw new Error(`native/sources.lock lists no .c file under ${dir}`);
    for (const f of cFiles) units.push({ file: join(root, f), includes: ['-I', join(root, dir), '-I', join(root, 'common')] });
  }
  for (const c of targets.commonSources) units.push({ file: join(root, c), includes: ['-I', join(root, 'common')] });
  units.push({ file: driver, includes: ['-I', root, '-I', join(root, 'common')] });

  const objects = units.map((_, i) => join(buildDir, 'obj', `${String(i).padStart(3, '0')}.o`));
  await pool(
    units.map((u, i) => () => gcc([...flags, ...u.includes, '-c', u.file, '-o', objects[i]!])),
    2,
  );
  await gcc(['-O3', ...objects, '-o', binary]);
  writeFileSync(stampFile, stamp);
  log(`native: built ${relative(repoRoot, binary)} from ${units.length} files with gcc ${flags.join(' ')} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return binary;
}

/**
 * The driver in serve mode (bench.c --serve): one request per round, so that native rounds can be
 * interleaved with the JavaScript contenders' rounds (bench/stats.ts interleave()).
 */
export class NativeServer {
  private readonly child: ChildProcess;
  private buffer = '';
  private readonly pending: Array<{ resolve: (line: string) => void; reject: (err: Error) => void }> = [];
  private failure: Error | undefined;

  private constructor(bin: string, log: (m: string) => void) {
    this.child = spawn(bin, ['--serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => {
      this.buffer += d;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        this.pending.shift()?.resolve(line);
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line) log(line);
    });
    const fail = (err: Error): void => {
      this.failure ??= err;
      for (const p of this.pending.splice(0)) p.reject(err);
    };
    this.child.on('error', fail);
    this.child.on('exit', (code, signal) => fail(new Error(`native bench exited (${signal ?? code})`)));
  }

  /** Builds the driver if needed and starts it. */
  static async start(log: (m: string) => void): Promise<NativeServer> {
    return new NativeServer(await buildNative(log), log);
  }

  /** One round of `op` ("<alg>.<op>") after `warmupMs` of warm-up: ops/s. */
  round(op: string, warmupMs: number, roundMs: number, minOps: number): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<string>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child.stdin!.write(`${op} ${warmupMs} ${roundMs} ${minOps}\n`);
    }).then((line) => {
      const x = Number(line);
      if (!Number.isFinite(x) || x <= 0) throw new Error(`native bench: ${op}: ${line}`);
      return x;
    });
  }

  /** A contender named "native" for bench/stats.ts. */
  contender(op: string): Contender {
    return {
      name: 'native',
      warmUp: async (ms) => 1000 / (await this.round(op, ms, 1, 1)),
      round: (roundMs, minOps) => this.round(op, 0, roundMs, minOps),
    };
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin!.end();
    await exited;
  }
}
