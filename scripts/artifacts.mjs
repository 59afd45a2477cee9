// Prints the size, gzipped size and sha256 of every built artifact (both wasm modules and dist/: code,
// declarations, source maps), then the loader glue a browser downloads (dist/bindings.js and the chunks it
// imports) against the wasm + glue budget. Gzip sizes come from `gzip -9 -n` like bench/sizes.ts's figures of
// record (node:zlib level 9 is ~1% larger: enough to misreport a budget this close), zlib only without gzip.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

const root = new URL('..', import.meta.url).pathname;
const BUDGET = 60 * 1024; // wasm + glue, gzipped (bench/run.ts checks the same figure)
let gzipCli = true;
const gz = (bytes) => {
  if (gzipCli) {
    try {
      return execFileSync('gzip', ['-9', '-n', '-c'], { input: bytes, maxBuffer: 1 << 27 }).length;
    } catch {
      gzipCli = false;
      console.log('(no usable gzip binary: gzip sizes from node:zlib level 9, ~1% larger)');
    }
  }
  return gzipSync(bytes, { level: 9 }).length;
};

const files = ['pqc.wasm', 'pqc-strict.wasm'].map((name) => join('wasm', name)).filter((f) => existsSync(join(root, f)));
for (const name of readdirSync(join(root, 'dist')).sort()) {
  if (/\.(js|d\.ts|js\.map)$/.test(name)) files.push(join('dist', name));
}
for (const file of files) {
  const bytes = readFileSync(join(root, file));
  const hash = createHash('sha256').update(bytes).digest('hex');
  console.log(`${file.padEnd(32)} ${String(statSync(join(root, file)).size).padStart(8)} B  ${String(gz(bytes)).padStart(7)} B gz  sha256 ${hash}`);
}

// The glue: the entry and every relative import, transitively (the dist has no comments to mislead the match).
const glue = new Set();
const visit = (file) => {
  if (glue.has(file)) return;
  glue.add(file);
  for (const m of readFileSync(join(root, file), 'utf8').matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    visit(join(dirname(file), m[1]));
  }
};
visit(join('dist', 'bindings.js'));
const glueGz = [...glue].reduce((sum, f) => sum + gz(readFileSync(join(root, f))), 0);
const wasmGz = gz(readFileSync(join(root, 'wasm', 'pqc.wasm')));
const total = wasmGz + glueGz;
console.log(`glue (${[...glue].join(' + ')}) ${glueGz} B gz; + wasm/pqc.wasm ${wasmGz} B gz = ${total} B of ${BUDGET} (${total <= BUDGET ? 'within' : 'OVER'} budget)`);
