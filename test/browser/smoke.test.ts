// The built bundle in a real browser: Debian's headless Chromium loads
// test/browser/smoke.html from a local static server; the page imports
// /dist/bindings.js, which fetches /wasm/pqc.wasm. In the page and in a module
// Web Worker it runs init(), an ML-KEM-768 round trip and Falcon-512 sign/verify
// (see smoke-run.js) and hands the raw results back; everything is judged here.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type ChromiumSession, type WatchedPage } from '../support/chromium.js';
import { expectKemRoundTrip } from '../support/kem-result.js';
import { REPO_ROOT, start, type StaticServer } from '../support/static-server.js';

interface SmokeResult {
  scope: string;
  userAgent: string;
  kem: {
    publicKeyLength: number;
    secretKeyLength: number;
    ciphertextLength: number;
    sharedSecret: string;
    decapsulated: string;
    tampered: string;
    publicKey: string;
    secondPublicKey: string;
  };
  falcon: {
    publicKeyLength: number;
    signatureLength: number;
    verify: boolean;
    tamperedMessage: boolean;
    tamperedSignature: boolean;
  };
  random: { calls: number; bytes: number; callsDuringInit: number };
  timings: Record<string, number>;
}

interface SmokeWindow {
  pqcSmoke: { runPage(): Promise<SmokeResult>; runWorker(): Promise<SmokeResult> };
}

/** Fails (with what to run) when the bundle or the module is missing or older than its sources. */
function assertBuilt(): void {
  const bundle = join(REPO_ROOT, 'dist', 'bindings.js');
  const wasm = join(REPO_ROOT, 'wasm', 'pqc.wasm');
  for (const file of [bundle, wasm]) {
    if (!existsSync(file)) {
      throw new Error(`${file.slice(REPO_ROOT.length)} is missing: run \`npm run build\` first (\`npm test\` does it).`);
    }
  }
  const built = statSync(bundle).mtimeMs;
  const sources = join(REPO_ROOT, 'bindings');
  const newer = readdirSync(sources).filter((name) => name.endsWith('.ts') && statSync(join(sources, name)).mtimeMs > built);
  if (newer.length > 0) {
    throw new Error(`dist/bindings.js is older than bindings/${newer.join(', bindings/')}: run \`npm run build:js\` (or \`npm run build\`).`);
  }
}


/** Everything a correct run must show, whichever context it ran in. */
function expectSound(r: SmokeResult, scope: 'window' | 'worker'): void {
  expect(r.scope).toBe(scope);
  expect(r.userAgent).toMatch(/Chrom/);

  expectKemRoundTrip(r.kem);
  expect(r.kem.secretKeyLength).toBe(2400);
  // Fresh randomness: two key generations differ.
  expect(r.kem.publicKey).not.toBe(r.kem.secondPublicKey);

  expect(r.falcon.publicKeyLength).toBe(897);
  expect(r.falcon.signatureLength).toBeGreaterThan(600);
  expect(r.falcon.signatureLength).toBeLessThanOrEqual(752);
  expect(r.falcon.verify).toBe(true);
  expect(r.falcon.tamperedMessage).toBe(false);
  expect(r.falcon.tamperedSignature).toBe(false);

  // The core's randomness came from this context's crypto.getRandomValues:
  // none for the deterministic self-test, then some for each random operation.
  expect(r.random.callsDuringInit).toBe(0);
  expect(r.random.calls).toBeGreaterThanOrEqual(5);
  expect(r.random.bytes).toBeGreaterThanOrEqual(2 * 64 + 32 + 48);
}

const formatTimings = (t: Record<string, number>): string =>
  Object.entries(t)
    .map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
    .join(', ');

describe('browser smoke (Debian Chromium, headless)', () => {
  let server: StaticServer | undefined;
  let session: ChromiumSession | undefined;
  let watched: WatchedPage | undefined;

  const page = (): WatchedPage => {
    if (!watched) throw new Error('the page did not open (see beforeAll)');
    return watched;
  };

  beforeAll(async () => {
    assertBuilt();
    server = await start();
    session = await launchChromium();
    watched = await session.newPage();
    const url = new URL('test/browser/smoke.html', server.url).href;
    const response = await watched.page.goto(url, { waitUntil: 'load', timeout: 15_000 });
    expect(response?.status(), `GET ${url}`).toBe(200);
    try {
      await watched.page.waitForFunction(() => document.documentElement.dataset['ready'] === 'true', undefined, { timeout: 10_000 });
    } catch (err) {
      throw new Error(`smoke.html did not get ready: ${String(err)}\nbrowser errors:\n${watched.describeErrors()}`);
    }
  }, 40_000);

  afterAll(async () => {
    await session?.close();
    await server?.close();
  });

  it('runs ML-KEM-768 and Falcon-512 in the page', async () => {
    const r = await page().page.evaluate(() => (window as unknown as SmokeWindow).pqcSmoke.runPage());
    expectSound(r, 'window');
    console.log(`[page]   ${formatTimings(r.timings)}; getRandomValues ${r.random.calls} calls, ${r.random.bytes} B; ${r.userAgent}`);
  }, 20_000);

  it('runs ML-KEM-768 and Falcon-512 in a module Web Worker', async () => {
    const r = await page().page.evaluate(() => (window as unknown as SmokeWindow).pqcSmoke.runWorker());
    expectSound(r, 'worker');
    console.log(`[worker] ${formatTimings(r.timings)}; getRandomValues ${r.random.calls} calls, ${r.random.bytes} B`);
  }, 20_000);

  it('loaded the bundle and the wasm module from the server, with no browser errors', () => {
    const { errors, describeErrors } = page();
    expect(errors, `browser errors:\n${describeErrors()}`).toEqual([]);
    const requests = server!.requests;
    const ok = (path: string): number => requests.filter((r) => r.path === path && r.status === 200).length;
    // Once by the page and once by the worker (a separate global scope with its own module map).
    expect(ok('/dist/bindings.js'), JSON.stringify(requests)).toBe(2);
    expect(ok('/wasm/pqc.wasm'), JSON.stringify(requests)).toBe(2);
    expect(ok('/test/browser/smoke-worker.js')).toBe(1);
    expect(requests.filter((r) => r.status !== 200), 'failed requests').toEqual([]);
  });
});
