// Finds and compiles pqc.wasm the same way in Node, browsers and workers.
// The module sits at <package>/wasm/pqc.wasm; bindings/ (sources) and dist/
// (built) are both one level below the package root, so one relative URL
// serves both. Bundlers and Electron can pass the bytes or a URL instead.

import { PqcError } from './errors.js';

export type WasmSource = Uint8Array | ArrayBuffer | WebAssembly.Module | URL | string;

// Literal URLs (not computed) so bundlers can see and copy both files.
const defaultUrl = (falcon: 'fast' | 'strict'): URL =>
  falcon === 'strict' ? new URL('../wasm/pqc-strict.wasm', import.meta.url) : new URL('../wasm/pqc.wasm', import.meta.url);

async function readFileUrl(url: URL): Promise<Uint8Array> {
  // A computed specifier keeps browser bundlers from trying to resolve node:fs.
  const fsName = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
  return new Uint8Array(await fs.readFile(url));
}

async function fetchBytes(url: URL): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new PqcError('LOAD', `could not fetch ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Compiles the module from what the caller gave, or from its default location. */
export async function compileWasm(source: WasmSource | undefined, falcon: 'fast' | 'strict'): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  try {
    let bytes: Uint8Array;
    if (source instanceof Uint8Array) bytes = source;
    else if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
    else {
      const url = source === undefined ? defaultUrl(falcon) : new URL(source, import.meta.url);
      bytes = url.protocol === 'file:' ? await readFileUrl(url) : await fetchBytes(url);
    }
    return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (err) {
    if (err instanceof PqcError) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new PqcError(
      'LOAD',
      `could not load pqc.wasm (${why}). Build it with \`npm run build:wasm\`, or pass init({ wasm }) the bytes or URL.`,
    );
  }
}
