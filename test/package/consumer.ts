// A consumer project for the packed tarball: `npm pack` of this checkout, then
// a fresh project under os.tmpdir() that installs the tarball and the few
// packages its tests need (aedes, rollup) from npm's cache alone.
//
// Why a lockfile is written for it: `npm ci` here filled npm's cache with
// tarballs (found by integrity) but not with registry metadata, so a plain
// `npm install --offline aedes@1.2.0` cannot resolve a version range and
// fails with ENOTCACHED. The consumer's package-lock.json is cut out of the
// repository's lockfile instead (the same versions and integrity hashes, the
// same node_modules layout for the packages needed), plus an entry for the
// tarball, and `npm ci --offline` installs exactly that.
//
// No network: npm runs with --offline (cache only; a miss is ENOTCACHED, not
// a download) and, should anything still try, a proxy on a closed loopback
// port. No repository node_modules: the project lives outside the checkout,
// children run there with NODE_PATH, NODE_OPTIONS and npm's own npm_* variables
// removed, and fixture/guard.mjs refuses to resolve any module outside it.

import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/static-server.js';

const run = promisify(execFile);

/** The fixture programs copied into the consumer project (plain ESM: the project has no TypeScript). */
export const FIXTURE_DIR = join(REPO_ROOT, 'test', 'package', 'fixture');

/** A TCP port nothing listens on (discard): any request that escapes --offline fails at once. */
const DEAD_PROXY = 'http://127.0.0.1:9';

interface LockEntry {
  version?: string;
  integrity?: string;
  dev?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  optional?: boolean;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [key: string]: unknown;
}

interface Lockfile {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

export interface PackageJson {
  name: string;
  version: string;
  main?: string;
  types?: string;
  files?: string[];
  dependencies?: Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
}

export interface Packed {
  /** The .tgz file. */
  readonly tarball: string;
  readonly integrity: string;
  /** Package-relative paths npm put in it. */
  readonly files: readonly string[];
}

export const isInside = (dir: string, path: string): boolean => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/** The environment for npm and node children: nothing inherited that could point back at the checkout. */
export function isolatedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // npm run sets npm_config_* / npm_package_* and INIT_CWD for the repository; vitest or tsx may set NODE_OPTIONS.
    if (/^(npm_|NODE_PATH$|NODE_OPTIONS$|INIT_CWD$|VITEST)/i.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

function npmEnv(): NodeJS.ProcessEnv {
  return isolatedEnv({
    npm_config_offline: 'true',
    npm_config_proxy: DEAD_PROXY,
    npm_config_https_proxy: DEAD_PROXY,
    npm_config_noproxy: '',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    npm_config_ignore_scripts: 'true',
  });
}

/** The newest .ts under `dir` (recursive). */
function newestTs(dir: string): { file: string; mtimeMs: number } {
  let newest = { file: '', mtimeMs: 0 };
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!name.endsWith('.ts')) continue;
    const mtimeMs = statSync(join(dir, name)).mtimeMs;
    if (mtimeMs > newest.mtimeMs) newest = { file: join(dir, name), mtimeMs };
  }
  return newest;
}

/** Fails, saying what to run, when dist/ or a wasm module is missing or dist/ is older than what it is built from. */
export function assertBuilt(pkg: PackageJson): void {
  const required = ['dist/index.js', 'dist/bindings.js', 'dist/node.js', 'wasm/pqc.wasm', 'wasm/pqc-strict.wasm'];
  for (const file of required) {
    if (!existsSync(join(REPO_ROOT, file))) {
      throw new Error(`${file} is missing: run \`npm run build\` first (\`npm test\` does it); the tarball is packed from dist/ and wasm/.`);
    }
  }
  const built = Math.min(...readdirSync(join(REPO_ROOT, 'dist')).map((f) => statSync(join(REPO_ROOT, 'dist', f)).mtimeMs));
  const inputs = [newestTs(join(REPO_ROOT, 'bindings')), newestTs(join(REPO_ROOT, 'src'))];
  inputs.push({ file: join(REPO_ROOT, 'rollup.config.mjs'), mtimeMs: statSync(join(REPO_ROOT, 'rollup.config.mjs')).mtimeMs });
  for (const input of inputs) {
    if (input.mtimeMs > built) {
      throw new Error(`dist/ is older than ${relative(REPO_ROOT, input.file)}: run \`npm run build:js\` (or \`npm run build\`) before packing ${pkg.name}.`);
    }
  }
}

/** `npm pack` of the checkout into `dest`. */
export async function pack(dest: string): Promise<Packed> {
  mkdirSync(dest, { recursive: true });
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], {
    cwd: REPO_ROOT,
    env: npmEnv(),
    maxBuffer: 1 << 26,
  });
  const [report] = JSON.parse(stdout) as Array<{ filename: string; integrity: string; files: Array<{ path: string }> }>;
  if (!report) throw new Error('npm pack reported nothing');
  return { tarball: join(dest, report.filename), integrity: report.integrity, files: report.files.map((f) => f.path) };
}

/** Where Node would find `name` from the package at lock path `from` ('' for the root), or undefined. */
function lookup(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (base === '') return undefined;
    const up = base.lastIndexOf('/node_modules/');
    base = up < 0 ? '' : base.slice(0, up);
  }
}

/** The repository lockfile's entries for `roots` and everything they depend on, in the same layout. */
export function lockSubset(lock: Lockfile, roots: Record<string, LockEntry>): Record<string, LockEntry> {
  const packages: Record<string, LockEntry> = { ...lock.packages, ...roots };
  const out: Record<string, LockEntry> = {};
  const pending = Object.keys(roots);
  while (pending.length > 0) {
    const path = pending.pop()!;
    if (out[path]) continue;
    const entry = packages[path]!;
    if (entry.link) throw new Error(`${path} is a link in package-lock.json: cannot install it offline`);
    // The flags say how the repository reaches the package (its dev tools); here every package is a dependency.
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = entry;
    out[path] = kept;
    const edges: Array<[string, boolean]> = [
      ...Object.keys(entry.dependencies ?? {}).map((n): [string, boolean] => [n, true]),
      ...Object.keys(entry.optionalDependencies ?? {}).map((n): [string, boolean] => [n, false]),
      ...Object.keys(entry.peerDependencies ?? {}).map((n): [string, boolean] => [n, false]),
    ];
    for (const [name, required] of edges) {
      const found = lookup(packages, path, name);
      if (found) pending.push(found);
      else if (required) throw new Error(`package-lock.json has no ${name} for ${path}`);
    }
  }
  return out;
}

export interface Consumer {
  readonly dir: string;
  /** node_modules/pqc-iiot, resolved (a real directory inside `dir`, not a link). */
  readonly installed: string;
  readonly installMs: number;
}

/** Creates the consumer project in `dir` (outside the checkout), installs everything offline, copies the fixtures. */
export async function createConsumer(dir: string, packed: Packed, pkg: PackageJson, extra: readonly string[]): Promise<Consumer> {
  const repoReal = realpathSync(REPO_ROOT);
  mkdirSync(dir, { recursive: true });
  const real = realpathSync(dir);
  if (isInside(repoReal, real) || isInside(real, repoReal)) throw new Error(`the consumer project ${real} must lie outside the checkout ${repoReal}`);

  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as Lockfile;
  const tarballSpec = `file:${relative(real, packed.tarball).split(sep).join('/')}`;
  const versions: Record<string, string> = {};
  for (const name of extra) {
    const version = lock.packages[`node_modules/${name}`]?.version;
    if (!version) throw new Error(`${name} is not in the repository's package-lock.json: it cannot come from npm's cache`);
    versions[name] = version;
  }
  const dependencies = { [pkg.name]: tarballSpec, ...versions };
  const subset = lockSubset(lock, {
    [`node_modules/${pkg.name}`]: { version: pkg.version, resolved: tarballSpec, integrity: packed.integrity, dependencies: pkg.dependencies ?? {} },
    ...Object.fromEntries(extra.map((name) => [`node_modules/${name}`, lock.packages[`node_modules/${name}`]!])),
  });
  const manifest = { name: 'pqc-iiot-consumer', version: '1.0.0', private: true, type: 'module', dependencies };
  writeFileSync(join(real, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(
    join(real, 'package-lock.json'),
    `${JSON.stringify({ name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages: { '': { name: manifest.name, version: manifest.version, dependencies }, ...subset } }, null, 2)}\n`,
  );

  const t0 = performance.now();
  await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], {
    cwd: real,
    env: npmEnv(),
    maxBuffer: 1 << 26,
  }).catch((err: Error & { stderr?: string }) => {
    throw new Error(`npm ci --offline failed in ${real} (a package missing from npm's cache?):\n${err.stderr ?? err.message}`);
  });
  const installMs = performance.now() - t0;

  // The TypeScript fixtures are stored as .ts.txt so that the repository's own typecheck skips them (one must
  // fail to compile, and both import 'pqc-iiot' as an installed package); here they become .ts again.
  for (const name of readdirSync(FIXTURE_DIR)) copyFileSync(join(FIXTURE_DIR, name), join(real, name.replace(/\.ts\.txt$/, '.ts')));
  return { dir: real, installed: realpathSync(join(real, 'node_modules', pkg.name)), installMs };
}

export interface ChildResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node [args]` in the consumer project, guarded (fixture/guard.mjs) unless `guard` is false. */
export async function node(consumer: Consumer, args: readonly string[], opts: { guard?: boolean; timeoutMs?: number } = {}): Promise<ChildResult> {
  const argv = [...(opts.guard === false ? [] : ['--import', './guard.mjs']), ...args];
  try {
    const { stdout, stderr } = await run(process.execPath, argv, {
      cwd: consumer.dir,
      env: isolatedEnv(),
      timeout: opts.timeoutMs ?? 60_000,
      maxBuffer: 1 << 26,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as Error & { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The last line of stdout parsed as JSON (the fixtures print one result line), with stderr in the error. */
export function lastJson<T>(r: ChildResult, what: string): T {
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`${what} exited ${r.code} without a JSON result.\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}
