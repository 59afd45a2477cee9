// Prints the size, gzipped size and sha256 of every built artifact (wasm and dist/).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const root = new URL('..', import.meta.url).pathname;
const files = [join(root, 'wasm', 'pqc.wasm')];
for (const name of readdirSync(join(root, 'dist')).sort()) {
  if (/\.(js|d\.ts)$/.test(name)) files.push(join(root, 'dist', name));
}
for (const file of files) {
  const bytes = readFileSync(file);
  const hash = createHash('sha256').update(bytes).digest('hex');
  const gz = gzipSync(bytes, { level: 9 }).length;
  console.log(`${file.slice(root.length).padEnd(28)} ${String(statSync(file).size).padStart(8)} B  ${String(gz).padStart(7)} B gz  sha256 ${hash}`);
}
