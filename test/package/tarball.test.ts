// The package as users get it: `npm pack` of this checkout (dist/ and wasm/ as `npm run build` left them),
// its contents checked, then installed with no network into a fresh project under os.tmpdir(), far from the
// repository's node_modules (test/package/consumer.ts says how both are guaranteed). In that project, with
// its own installed packages only: Node runs an ML-KEM-768 round trip and a secure publish/subscribe through
// an in-process Aedes broker (fixture/node-check.mjs); the project's own Rollup bundles a page from the
// installed package (fixture/page.mjs), which Debian's Chromium runs against a static server on 127.0.0.1.
// The children print raw observations; every judgement is made here.

import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/chromium.js';
import { expectKemRoundTrip } from '../support/kem-result.js';
import { REPO_ROOT, start } from '../support/static-server.js';
import { checkDeclarations, checkEntryPoints, checkNoBuildPaths, checkReadableJs, checkSourceMaps, listFiles } from './contents.js';
import { assertBuilt, createConsumer, isInside, lastJson, node, pack, type Consumer, type PackageJson, type Packed } from './consumer.js';

const HEX64 = /^[0-9a-f]{64}$/;
const TOPIC = 'plant/line1/temp';
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;

let work = '';
let packed: Packed;
let unpacked = '';
let files: string[] = [];
let consumer: Consumer;
const started = performance.now();

beforeAll(async () => {
  assertBuilt(pkg);
  work = mkdtempSync(join(tmpdir(), 'pqc-iiot-package-'));
  packed = await pack(join(work, 'pack'));
  unpacked = join(work, 'unpacked');
  mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', packed.tarball, '-C', unpacked]);
  unpacked = join(unpacked, 'package');
  files = listFiles(unpacked);
  // aedes: the in-process broker; rollup: the page bundle; typescript, @types/node: the declarations check.
  consumer = await createConsumer(join(work, 'project'), packed, pkg, ['aedes', 'rollup', 'typescript', '@types/node']);
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
  console.log(`test/package: ${((performance.now() - started) / 1000).toFixed(1)} s in all, npm ci --offline ${(consumer?.installMs / 1000).toFixed(1)} s`);
});

describe('the packed tarball', () => {
  it('lists what npm packed and nothing else', () => {
    expect(files).toEqual([...packed.files].sort());
  });

  it('ships both wasm modules, identical to the build and valid', () => {
    for (const name of ['pqc.wasm', 'pqc-strict.wasm']) {
      const shipped = readFileSync(join(unpacked, 'wasm', name));
      expect(shipped.equals(readFileSync(join(REPO_ROOT, 'wasm', name))), name).toBe(true);
      expect(WebAssembly.validate(shipped), name).toBe(true);
    }
  });

  it('has every entry point of package.json with its type declarations, whose imports resolve', () => {
    expect(Object.keys(pkg.exports ?? {})).toEqual(expect.arrayContaining(['.', './protocol', './node', './bindings']));
    expect(checkEntryPoints(unpacked, pkg)).toEqual([]);
    expect(checkDeclarations(unpacked, pkg, files)).toEqual([]);
  });

  it('has readable ESM (not minified onto long lines), each file with its source map', () => {
    expect(files.filter((f) => f.endsWith('.js')).length).toBeGreaterThanOrEqual(4);
    expect(checkReadableJs(unpacked, files)).toEqual([]);
  });

  it("has source maps whose sources stay inside the package and are embedded, the repository's own files", () => {
    expect(checkSourceMaps(unpacked, files, REPO_ROOT)).toEqual([]);
  });

  it('names no directory of the machine it was built on', () => {
    expect(checkNoBuildPaths(unpacked, files, [REPO_ROOT.replace(/\/$/, ''), realpathSync(REPO_ROOT)])).toEqual([]);
  });
});

// Generous: each test starts Node, tsc or Chromium on a 2-core machine that may be running other suites.
describe('installed offline into a project outside the checkout', { timeout: 90_000 }, () => {
  it('is a real copy inside the project, with no node_modules above it to fall back on', () => {
    expect(isInside(realpathSync(REPO_ROOT), consumer.dir)).toBe(false);
    expect(isInside(consumer.dir, realpathSync(REPO_ROOT))).toBe(false);
    expect(lstatSync(join(consumer.dir, 'node_modules', pkg.name)).isSymbolicLink()).toBe(false);
    expect(consumer.installed).toBe(join(consumer.dir, 'node_modules', pkg.name));
    expect(readFileSync(join(consumer.installed, 'wasm', 'pqc.wasm')).equals(readFileSync(join(unpacked, 'wasm', 'pqc.wasm')))).toBe(true);
    // Node and the resolver look in every node_modules up the tree: none may exist above the project.
    for (let dir = dirname(consumer.dir); ; dir = dirname(dir)) {
      expect(existsSync(join(dir, 'node_modules')), `${dir}/node_modules`).toBe(false);
      if (dirname(dir) === dir) break;
    }
  });

  it("type-checks an application against every entry point's declarations (strict, NodeNext)", async () => {
    // One run for both files (tsc costs seconds here). skipLibCheck: checking mqtt's and @types/node's own
    // declarations would triple the time and test them, not us; ours are exercised by their use below.
    const flags = ['--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node'];
    // tsc is CommonJS and reads files itself (no guard): it resolves from the project, as an application's build would.
    const r = await node(consumer, ['node_modules/typescript/bin/tsc', ...flags, 'types-ok.ts', 'types-misuse.ts'], { guard: false });
    expect(r.code).not.toBe(0);
    // The one error is the misuse (a KemKeyPair is not a number); types-ok.ts, using every entry, has none.
    expect(r.stdout.trim().split('\n'), r.stdout + r.stderr).toEqual([expect.stringMatching(/^types-misuse\.ts\(5,\d+\): error TS2322: .*KemKeyPair.*number/)]);
  });

  it('refuses, under the guard, a module from the checkout', async () => {
    // Proves the guard is live: the same import that would work elsewhere fails from the project.
    const target = JSON.stringify(new URL('dist/bindings.js', `file://${REPO_ROOT}`).href);
    const r = await node(consumer, ['--input-type=module', '-e', `await import(${target});`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('guard:');
  });

  interface NodeCheck {
    resolved: Record<string, string>;
    entries: {
      rootExports: number;
      sameKem: boolean;
      sameInit: boolean;
      rootInternals: string[];
      protocolInternals: string[];
      protocolApi: string[];
      fileStorage: string;
      nodeSignWorker: string;
    };
    kem: { publicKeyLength: number; ciphertextLength: number; sharedSecret: string; decapsulated: string; tampered: string };
    pubsub: {
      sent: string[];
      received: Array<{ topic: string; payload: string; sender: string; subject: string; kind: string; seq: number }>;
      security: Array<{ code: string; topic: string; sender: string | null }>;
      corrupted: boolean;
      forwarded: number;
      duplicates: number;
      delivered: number;
      errors: string[];
      workers: number[];
    };
  }

  it('runs in Node: an ML-KEM-768 round trip and a secure publish/subscribe through Aedes', async () => {
    const r = await node(consumer, ['node-check.mjs']);
    const out = lastJson<NodeCheck>(r, 'node-check.mjs');
    expect(r.code, r.stderr).toBe(0);

    const modules = join(consumer.dir, 'node_modules');
    for (const [what, where] of Object.entries(out.resolved)) {
      const path = where.startsWith('file:') ? fileURLToPath(where) : where;
      expect(isInside(modules, path), `${what} -> ${path}`).toBe(true);
    }
    expect(out.entries).toEqual({
      rootExports: expect.any(Number),
      sameKem: true,
      sameInit: true,
      rootInternals: [],
      protocolInternals: [],
      protocolApi: ['function', 'function', 'function', 'function'],
      fileStorage: 'function',
      nodeSignWorker: 'function',
    });

    expectKemRoundTrip(out.kem);

    const p = out.pubsub;
    expect(p.errors).toEqual([]);
    expect(p.workers).toHaveLength(1); // the sensor's signing worker started from dist/node-sign-worker.js
    expect(p.corrupted).toBe(true);
    // The first and third readings arrive verified; the broker's corrupted second one is refused.
    expect(p.received.map((m) => m.payload)).toEqual([p.sent[0], p.sent[2]]);
    for (const m of p.received) {
      expect(m).toMatchObject({ topic: TOPIC, sender: 'sensor-01', subject: 'sensor-01', kind: 'group' });
    }
    expect(p.received[1]!.seq).toBeGreaterThan(p.received[0]!.seq);
    expect(p.security).toEqual([{ code: 'BAD_SIGNATURE', topic: TOPIC, sender: 'sensor-01' }]);
    // The broker's replay of the first reading is dropped as a duplicate, not delivered again.
    expect(p.duplicates).toBe(1);
    expect(p.delivered).toBe(2);
  });

  it('prints one line of code for an uncaught error, and TypeScript with --enable-source-maps', async () => {
    const plain = await node(consumer, ['uncaught.mjs']);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain('RangeError: ciphertext must be 1088 bytes, got 3');
    expect(plain.stderr).toContain(`node_modules/${pkg.name}/dist/`);
    expect(plain.stderr).toMatch(/\n\s*throw new \(range \? RangeError : TypeError\)\(/); // the line of code Node quotes (bindings/assert.ts, refuse)
    // The source line Node quotes, plus the message and the stack: a few hundred bytes, not the bundle.
    expect(plain.stderr.length, plain.stderr.slice(0, 2000)).toBeLessThan(4000);

    const mapped = await node(consumer, ['--enable-source-maps', 'uncaught.mjs']);
    expect(mapped.code).not.toBe(0);
    expect(mapped.stderr).toContain('RangeError: ciphertext must be 1088 bytes, got 3');
    // Frames and the quoted line come from the embedded TypeScript, named by its place in the package.
    expect(mapped.stderr).toMatch(new RegExp(`node_modules/${pkg.name}/(bindings|src)/[\\w/-]+\\.ts:\\d+`));
    expect(mapped.stderr).not.toContain('/dist/');
    expect(mapped.stderr.length, mapped.stderr.slice(0, 2000)).toBeLessThan(4000);
  });

  interface BundleReport { version: string; rollup: string; project: string; modules: string[]; files: string[]; warnings: string[] }
  interface PageResult {
    userAgent: string;
    kem: { sameModule: boolean; ready: boolean; sharedSecret: string; decapsulated: string; tampered: string };
    envelope: { bytes: number; sent: string; received: string; sender: string; senderSubject: string; topic: string; seq: number; tampered: string; replayed: string };
  }

  it('bundles a page with Rollup from the installed package and runs a sealed round trip in Chromium', async () => {
    const b = await node(consumer, ['bundle.mjs']);
    const bundle = lastJson<BundleReport>(b, 'bundle.mjs');
    expect(b.code, b.stderr).toBe(0);
    expect(bundle.project).toBe(consumer.dir);
    expect(isInside(join(consumer.dir, 'node_modules', 'rollup'), fileURLToPath(bundle.rollup))).toBe(true);
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
    expect(bundle.version).toBe(lock.packages['node_modules/rollup']!.version);
    const outside = bundle.modules.filter((id) => !id.startsWith('\0') && !isInside(consumer.dir, id));
    expect(outside).toEqual([]);
    expect(bundle.modules).toContain(join(consumer.installed, 'dist', 'bindings.js'));

    // The site: the bundle in app/, the installed package's wasm in wasm/ (the loader's ../wasm/ from app/).
    const site = join(consumer.dir, 'site');
    copyFileSync(join(consumer.dir, 'page.html'), join(site, 'app', 'index.html'));
    cpSync(join(consumer.installed, 'wasm'), join(site, 'wasm'), { recursive: true });
    const server = await start({ root: site });
    const browser = await launchChromium();
    try {
      const watched = await browser.newPage();
      await watched.page.goto(new URL('app/', server.url).href);
      await watched.page.waitForFunction(() => typeof (window as unknown as { pqcPackageCheck?: unknown }).pqcPackageCheck === 'function', undefined, { timeout: 20_000 });
      const r = await watched.page.evaluate(() => (window as unknown as { pqcPackageCheck(): Promise<PageResult> }).pqcPackageCheck());
      expect(watched.errors, watched.describeErrors()).toEqual([]);

      expect(r.userAgent).toMatch(/Chrom/);
      expect(r.kem.sameModule).toBe(true);
      expect(r.kem.ready).toBe(true);
      expect(r.kem.sharedSecret).toMatch(HEX64);
      expect(r.kem.decapsulated).toBe(r.kem.sharedSecret);
      expect(r.kem.tampered).toMatch(HEX64);
      expect(r.kem.tampered).not.toBe(r.kem.sharedSecret);

      expect(r.envelope.received).toBe(r.envelope.sent);
      expect(r.envelope).toMatchObject({ sender: 'hmi-1', senderSubject: 'hmi-1', topic: 'plant/cmd/plc-1', seq: 1, tampered: 'BAD_SIGNATURE', replayed: 'DUPLICATE' });
      expect(r.envelope.bytes).toBeGreaterThan(1088 + 600); // an ML-KEM-768 ciphertext and a Falcon-512 signature at least
      // The module came from the package's default location, next to the bundle's directory.
      expect(server.requests).toContainEqual({ method: 'GET', path: '/wasm/pqc.wasm', status: 200 });
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
