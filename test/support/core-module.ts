// Which wasm module the core tests load. By default the package's own (wasm/pqc.wasm, built by clang from
// @yowasp/clang). vitest.config.ts runs the KAT, cross-check, memory and heap files a second time, as the "emcc"
// project, with PQC_TEST_WASM naming the module that Emscripten built (scripts/test-setup.mjs builds it
// wherever emcc is installed), so the same assertions prove both compilers' output.
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { InitOptions } from '../../bindings/index.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const chosen = process.env['PQC_TEST_WASM'];

/** A name for the module under test, for test titles: 'default build' or the path of the other one. */
export const coreLabel: string = chosen ? `module ${chosen}` : 'default build';

/** init()'s options for the module under test. */
export function coreInitOptions(): InitOptions {
  if (!chosen) return {};
  return { wasm: new Uint8Array(readFileSync(isAbsolute(chosen) ? chosen : join(ROOT, chosen))) };
}
