// Sizes of what a browser downloads from the published package: the wasm module and the JS glue, raw and
// gzipped with `gzip -9 -n` (GNU gzip; each file compressed on its own, as a server sends them). Without a
// gzip binary, node:zlib at level 9 is used and says so (its output is ~1% larger).
//
// "As shipped": the glue is the file package.json's exports map gives for 'pqc-iiot/bindings' and every
// chunk it imports, transitively; the modules are the files its './wasm/...' exports name. Each must be in
// the file list `npm pack --dry-run` reports, or the figures would describe something users never get.
//
// Keys: wasm.bytes, wasm.gzipBytes (pqc.wasm, the default module), wasm.strictBytes, wasm.strictGzipBytes
// (pqc-strict.wasm, init({ falcon: 'strict' })), dist.bytes, dist.gzipBytes (the glue),
// wasmPlusGlue.gzipBytes (the budgeted figure), wasmPlusGlue.strictGzipBytes. dist/ is built by
// `npm run build:js`; without it the dist and wasmPlusGlue keys are left out.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

type ExportTarget = string | { readonly import?: string; readonly default?: string };

/** The package-relative file the exports map gives for `subpath` (an ESM import), without the leading './'. */
function exported(subpath: string): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { exports?: Record<string, ExportTarget> };
  const target = pkg.exports?.[subpath];
  const file = typeof target === 'string' ? target : (target?.import ?? target?.default);
  if (file === undefined) throw new Error(`sizes: package.json exports has no '${subpath}'`);
  return file.replace(/^\.\//, '');
}

/** The files `npm pack` would put in the tarball (package-relative, '/'-separated). */
function packedFiles(): Set<string> {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1 << 26,
  });
  const [report] = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>;
  if (!report) throw new Error('sizes: `npm pack --dry-run --json` reported nothing');
  return new Set(report.files.map((f) => f.path));
}

/** The file and every relative module it imports, transitively (package-relative paths). */
function moduleClosure(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(repoRoot, file), 'utf8');
    // Static imports and re-exports ("from './x.js'"), bare imports ("import './x.js'") and literal dynamic
    // imports: each one a browser fetches. The dist is comment-free, so no match comes from prose.
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
      visit(join(dirname(file), m[1]!).split('\\').join('/'));
    }
  };
  visit(entry);
  return [...seen];
}

/** The newest modification time among the inputs of the JS build (to tell a stale dist/). */
function newestInput(): number {
  const times = [statSync(join(repoRoot, 'rollup.config.mjs')).mtimeMs];
  for (const dir of ['bindings', 'src']) {
    for (const name of readdirSync(join(repoRoot, dir), { recursive: true, encoding: 'utf8' })) {
      if (name.endsWith('.ts')) times.push(statSync(join(repoRoot, dir, name)).mtimeMs);
    }
  }
  return Math.max(...times);
}

function mustShip(file: string, packed: Set<string>): void {
  if (!packed.has(file)) {
    throw new Error(`sizes: ${file} is not in the packed tarball (package.json "files"): the figures would not be what ships`);
  }
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const out: BenchResult = {};
  const packed = packedFiles();
  const wasmFile = exported('./wasm/pqc.wasm');
  const strictFile = exported('./wasm/pqc-strict.wasm');
  for (const file of [wasmFile, strictFile]) {
    if (!existsSync(join(repoRoot, file))) throw new Error(`${file} is missing: run \`npm run build:wasm\`.`);
    mustShip(file, packed);
  }
  const wasm = readFileSync(join(repoRoot, wasmFile));
  const strict = readFileSync(join(repoRoot, strictFile));
  out['wasm.bytes'] = wasm.length;
  out['wasm.gzipBytes'] = gz(wasm, opts.log);
  out['wasm.strictBytes'] = strict.length;
  out['wasm.strictGzipBytes'] = gz(strict, opts.log);

  const entry = exported('./bindings');
  if (!existsSync(join(repoRoot, entry))) {
    opts.log(`sizes: ${entry} not built (\`npm run build:js\`): dist.* and wasmPlusGlue.* left out`);
    return out;
  }
  const files = moduleClosure(entry);
  const oldest = Math.min(...files.map((f) => statSync(join(repoRoot, f)).mtimeMs));
  if (oldest < newestInput()) {
    opts.log(`sizes: warning: ${entry} (or a chunk) is older than its sources or rollup.config.mjs; run \`npm run build:js\` for current figures`);
  }
  let bytes = 0;
  let gzBytes = 0;
  for (const f of files) {
    mustShip(f, packed);
    const b = readFileSync(join(repoRoot, f));
    bytes += b.length;
    gzBytes += gz(b, opts.log);
  }
  opts.log(`sizes: glue = ${files.join(' + ')} (${gzBytes} B gzipped)`);
  out['dist.bytes'] = bytes;
  out['dist.gzipBytes'] = gzBytes;
  out['wasmPlusGlue.gzipBytes'] = out['wasm.gzipBytes'] + gzBytes;
  out['wasmPlusGlue.strictGzipBytes'] = out['wasm.strictGzipBytes'] + gzBytes;
  return out;
}
