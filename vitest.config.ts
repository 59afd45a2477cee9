import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// scripts/test-setup.mjs builds the Emscripten module here wherever emcc is installed: the core's
// known-answer, cross-check and memory tests then run a second time against it (test/support/core-module.ts).
const EMCC_MODULE = 'wasm/build/emcc/pqc.wasm';
const CORE_FILES = [
  'test/bindings/kat.test.ts',
  'test/bindings/cross-check.test.ts',
  'test/bindings/memory.test.ts',
  'test/bindings/heap.test.ts',
  'test/bindings/falcon-canonical.test.ts',
];

export default defineConfig({
  test: {
    // Two cores on CI: one file per core, crypto-heavy files do not time-share well.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'clang', include: ['test/**/*.test.ts'] } },
      ...(existsSync(EMCC_MODULE)
        ? [{ extends: true, test: { name: 'emcc', include: CORE_FILES, env: { PQC_TEST_WASM: EMCC_MODULE } } }]
        : []),
    ],
  },
});
