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
// The binary goes to bench/native-build/pqclean/ (git-ignored). It is rebuilt
// when any input changes: the lock (so every pinned file), the driver (bench.c,
// rounds.c/.h), the flags or gcc. buildBinary() and NativeServer also serve the
// nativeFp column (bench/native-fp.ts).

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

export interface Lock {
  readonly package: string;
  readonly version: string;
  readonly files: Record<string, string>;
}
export interface SourcesModule {
  readLock(): Lock;
  verifySources(lock: Lock): { root: string; files: number };
}
export interface TargetsModule {
  readonly sourceDirs: readonly string[];
  readonly aliasedFalconDirs: readonly string[];
  readonly falconBaseDir: string;
  readonly falconBasePrefix: string;
  readonly commonSources: readonly string[];
  readonly nativeSources: readonly string[];
  readonly falconFastSources: readonly string[];
  readonly variants: Readonly<Record<'fast' | 'strict', { readonly replaces: readonly string[]; readonly extraSources: readonly string[]; readonly defines: readonly string[] }>>;
  readonly compileFlags: readonly string[];
}

export const importRepo = async <T>(rel: string): Promise<T> => (await import(pathToFileURL(join(repoRoot, rel)).href)) as T;

const driverDir = join(repoRoot, 'bench', 'native');
/** The timing loop and serve mode every native driver links (rounds.h). */
export const roundsUnit = join(driverDir, 'rounds.c');
export const roundsHeader = join(driverDir, 'rounds.h');

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

/** One translation unit: the file and its own arguments (include paths, defines). */
export interface Unit {
  readonly file: string;
  readonly args: readonly string[];
}

/** A native bench binary: bench/native-build/<name>/bench. */
export interface BinarySpec {
  readonly name: string;
  readonly units: readonly Unit[];
  /** For every unit, before its own arguments. */
  readonly flags: readonly string[];
  /** Headers generated for the build (file name to text), written to genDir(name) before compiling. */
  readonly generated?: Readonly<Record<string, string>>;
  /** What else decides the binary, as JSON (the lock: so every pinned file, headers included). */
  readonly stamp: unknown;
  /** Files besides the units whose bytes decide the binary (our own headers). */
  readonly hashed: readonly string[];
}

const buildRoot = join(repoRoot, 'bench', 'native-build');
export const genDir = (name: string): string => join(buildRoot, name, 'gen');

/**
 * Compiles and links `spec` unless its stamp says the binary was built from the same inputs: the flags,
 * the units with their arguments, the generated headers, gcc's version, spec.stamp, and the bytes of
 * every unit and of every spec.hashed file. Returns the binary's path.
 */
export async function buildBinary(spec: BinarySpec, log: (m: string) => void): Promise<string> {
  const dir = join(buildRoot, spec.name);
  const binary = join(dir, 'bench');
  const stampFile = join(dir, 'stamp');
  const { stdout: gccVersion } = await exec('gcc', ['--version']).catch(() => ({ stdout: 'unknown' }));
  const hash = createHash('sha256').update(
    JSON.stringify({ flags: spec.flags, units: spec.units, generated: spec.generated ?? {}, stamp: spec.stamp, gccVersion }),
  );
  for (const f of [...spec.units.map((u) => u.file), ...spec.hashed]) hash.update(f).update(readFileSync(f));
  const stamp = hash.digest('hex');
  if (existsSync(binary) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
    log(`native: ${relative(repoRoot, binary)} is up to date`);
    return binary;
  }

  const started = Date.now();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'obj'), { recursive: true });
  mkdirSync(genDir(spec.name), { recursive: true });
  for (const [file, text] of Object.entries(spec.generated ?? {})) writeFileSync(join(genDir(spec.name), file), text);
  const objects = spec.units.map((_, i) => join(dir, 'obj', `${String(i).padStart(3, '0')}.o`));
  await pool(
    spec.units.map((u, i) => () => gcc([...spec.flags, ...u.args, '-c', u.file, '-o', objects[i]!])),
    2,
  );
  await gcc(['-O3', ...objects, '-o', binary]);
  writeFileSync(stampFile, stamp);
  log(`native: built ${relative(repoRoot, binary)} from ${spec.units.length} files with gcc ${spec.flags.join(' ')} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return binary;
}

/** Verifies the pinned sources, then compiles the baseline (unless up to date) and returns the binary's path. */
export async function buildNative(log: (m: string) => void): Promise<string> {
  const sources = await importRepo<SourcesModule>('wasm/sources.mjs');
  const targets = await importRepo<TargetsModule>('wasm/targets.mjs');
  const lock = sources.readLock();
  const { root, files } = sources.verifySources(lock);
  log(`native: ${lock.package}@${lock.version} sources verified (${files} files match native/sources.lock)`);

  // The wasm build's flags (-O3 -ffp-contract=off, warnings), for gcc.
  const flags = targets.compileFlags.filter((f) => f !== '-mnontrapping-fptoint'); // a wasm-only flag
  const dirs = [...targets.sourceDirs, ...targets.aliasedFalconDirs];
  const units: Unit[] = [];
  for (const dir of dirs) {
    const cFiles = Object.keys(lock.files).filter((f) => f.startsWith(dir + '/') && f.endsWith('.c')).sort();
    if (cFiles.length === 0) throw new Error(`native/sources.lock lists no .c file under ${dir}`);
    for (const f of cFiles) units.push({ file: join(root, f), args: ['-I', join(root, dir), '-I', join(root, 'common')] });
  }
  for (const c of targets.commonSources) units.push({ file: join(root, c), args: ['-I', join(root, 'common')] });
  for (const file of [join(driverDir, 'bench.c'), roundsUnit]) units.push({ file, args: ['-I', root, '-I', join(root, 'common')] });
  return buildBinary({ name: 'pqclean', units, flags, stamp: { lock, dirs, common: targets.commonSources }, hashed: [roundsHeader] }, log);
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

  /** `name`: the contender's name, so the column its figures go to ("native", "nativeFp"). */
  private constructor(bin: string, private readonly name: string, log: (m: string) => void) {
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
    this.child.on('exit', (code, signal) => fail(new Error(`${name} bench exited (${signal ?? code})`)));
  }

  /** Builds the baseline driver (bench.c) if needed and starts it as "native". */
  static async start(log: (m: string) => void): Promise<NativeServer> {
    return new NativeServer(await buildNative(log), 'native', log);
  }

  /** Starts another driver that answers the same protocol (rounds.h), as contender `name`. */
  static launch(bin: string, name: string, log: (m: string) => void): NativeServer {
    return new NativeServer(bin, name, log);
  }

  /** One round of `op` ("<alg>.<op>") after `warmupMs` of warm-up: ops/s. */
  round(op: string, warmupMs: number, roundMs: number, minOps: number): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<string>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child.stdin!.write(`${op} ${warmupMs} ${roundMs} ${minOps}\n`);
    }).then((line) => {
      const x = Number(line);
      if (!Number.isFinite(x) || x <= 0) throw new Error(`${this.name} bench: ${op}: ${line}`);
      return x;
    });
  }

  /** A contender for bench/stats.ts, named as this server. */
  contender(op: string): Contender {
    return {
      name: this.name,
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
