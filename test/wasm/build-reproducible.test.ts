// The default build (clang from @yowasp/clang, then binaryen's wasm-opt) makes exactly the bytes whose sha256
// is committed in wasm/expected-sha256.json, on any machine and at any path: `npm test` has just built
// wasm/pqc.wasm; this builds again from scratch (a fresh virtual file system) into a temporary directory, against
// a record that expects other bytes, so one build shows both that the bytes are the committed ones and that a
// mismatch fails with a report naming the module, the compiler and what to do. Also checks that the build refuses
// a pinned file whose hash differs from native/sources.lock.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('wasm build', () => {
  it('makes the committed bytes, and fails with what to do when a record expects others', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pqc-repro-'));
    try {
      const committed = JSON.parse(readFileSync(join(root, 'wasm', 'expected-sha256.json'), 'utf8')) as {
        compiler: string;
        modules: Record<string, string>;
      };
      const record = join(dir, 'expected.json');
      writeFileSync(record, JSON.stringify({ ...committed, modules: { ...committed.modules, 'pqc.wasm': 'f'.repeat(64) } }));
      const out = join(dir, 'pqc.wasm');
      const run = spawnSync('node', ['wasm/build.mjs', '--variant', 'fast', '--out', out, '--expected', record], { cwd: root, encoding: 'utf8' });
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain(`pqc.wasm: built ${committed.modules['pqc.wasm']}`);
      expect(run.stderr).toContain(`expects ${'f'.repeat(64)}`);
      expect(run.stderr).toContain(committed.compiler);
      expect(run.stderr).toContain('npm run build:wasm -- --update-hashes');
      expect(sha256(out)).toBe(committed.modules['pqc.wasm']);
      expect(sha256(out)).toBe(sha256(join(root, 'wasm', 'pqc.wasm')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

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
