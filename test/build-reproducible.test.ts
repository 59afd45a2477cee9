// Two clean builds of the same commit give byte-identical wasm. `npm test` has
// just built wasm/pqc.wasm; this builds again from scratch (fresh object files
// in another temporary directory) and compares the bytes. Also checks that the
// build refuses a pinned file whose hash differs from native/sources.lock.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('wasm build', () => {
  it('is byte-for-byte reproducible', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pqc-repro-'));
    try {
      const out = join(dir, 'pqc.wasm');
      execFileSync('node', ['wasm/build.mjs', '--variant', 'fast', '--out', out, '--quiet'], { cwd: root, stdio: 'pipe' });
      expect(sha256(out)).toBe(sha256(join(root, 'wasm', 'pqc.wasm')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('refuses to compile when a pinned source differs from the lock, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pqc-lock-'));
    try {
      const lock = JSON.parse(readFileSync(join(root, 'native', 'sources.lock'), 'utf8')) as { files: Record<string, string> };
      const victim = 'crypto_kem/ml-kem-768/clean/poly.c';
      lock.files[victim] = '0'.repeat(64);
      writeFileSync(join(dir, 'sources.lock'), JSON.stringify(lock, null, 2));
      const out = join(dir, 'never.wasm');
      const run = spawnSync('node', ['wasm/build.mjs', '--lock', join(dir, 'sources.lock'), '--variant', 'fast', '--out', out], { cwd: root, encoding: 'utf8' });
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain(victim);
      expect(run.stderr).toContain('Refusing to build');
      expect(existsSync(out)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
