// Sizes of what a browser downloads: wasm/pqc.wasm and the JS glue (dist/bindings.js and any chunk it
// imports), raw and gzipped with `gzip -9 -n` (GNU gzip; each file compressed on its own, as a server sends
// them). Without a gzip binary, node:zlib at level 9 is used and says so (its output is ~1% larger). Keys: wasm.bytes, wasm.gzipBytes, dist.bytes, dist.gzipBytes,
// wasmPlusGlue.gzipBytes. dist/ is built by `npm run build:js`; without it the dist keys are left out.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { repoRoot, type BenchOptions, type BenchResult } from './types.js';

let gzipCli = true;
function gz(bytes: Uint8Array, log: (m: string) => void): number {
  if (gzipCli) {
    try {
      return execFileSync('gzip', ['-9', '-n', '-c'], { input: bytes, maxBuffer: 1 << 26 }).length;
    } catch {
      gzipCli = false;
      log('sizes: no usable gzip binary: gzip sizes from node:zlib level 9 (about 1% larger than gzip -9)');
    }
  }
  return gzipSync(bytes, { level: 9 }).length;
}

/** The file and every relative module it imports, transitively. */
function moduleClosure(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
      visit(join(dirname(file), m[1]!));
    }
  };
  visit(entry);
  return [...seen];
}

/** The newest modification time of the .ts files under bindings/ (to tell a stale dist/). */
function newestSource(): number {
  const dir = join(repoRoot, 'bindings');
  return Math.max(...readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => statSync(join(dir, f)).mtimeMs));
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const out: BenchResult = {};
  const wasmPath = join(repoRoot, 'wasm', 'pqc.wasm');
  if (!existsSync(wasmPath)) throw new Error('wasm/pqc.wasm is missing: run `npm run build:wasm`.');
  const wasm = readFileSync(wasmPath);
  out['wasm.bytes'] = wasm.length;
  out['wasm.gzipBytes'] = gz(wasm, opts.log);

  const entry = join(repoRoot, 'dist', 'bindings.js');
  if (!existsSync(entry)) {
    opts.log('sizes: dist/bindings.js not built (`npm run build:js`): dist.* and wasmPlusGlue.* left out');
    return out;
  }
  if (statSync(entry).mtimeMs < newestSource()) {
    opts.log('sizes: warning: dist/bindings.js is older than bindings/*.ts; run `npm run build:js` for current figures');
  }
  const files = moduleClosure(entry);
  let bytes = 0;
  let gzBytes = 0;
  for (const f of files) {
    const b = readFileSync(f);
    bytes += b.length;
    gzBytes += gz(b, opts.log);
  }
  opts.log(`sizes: glue = ${files.map((f) => relative(repoRoot, f)).join(' + ')}`);
  out['dist.bytes'] = bytes;
  out['dist.gzipBytes'] = gzBytes;
  out['wasmPlusGlue.gzipBytes'] = out['wasm.gzipBytes'] + gzBytes;
  return out;
}
