// init(): loads the core once per context, concurrent-safe, and runs the
// self-test before anything can use it.

import { WasmCore } from './core.js';
import { compileWasm, type WasmSource } from './loader.js';
import { selfTest } from './self-test.js';
import { setCore } from './state.js';
import { PqcError } from './errors.js';
import { aoneOf } from './assert.js';

export interface InitOptions {
  /** The module's bytes, a compiled module, or where to fetch it (default: the package's wasm/pqc.wasm). */
  readonly wasm?: WasmSource;
  /**
   * Falcon's floating point: 'fast' (default) computes it with wasm f64
   * (byte-identical results, ~10x faster signing; see docs/FALCON-FP.md),
   * 'strict' with PQClean's integer emulation (wasm/pqc-strict.wasm).
   */
  readonly falcon?: 'fast' | 'strict';
}

let loading: Promise<void> | undefined;
let loadedFalcon: 'fast' | 'strict' | undefined;
let requested: 'fast' | 'strict' = 'fast';

/** Which Falcon build is loaded, once init() has completed. */
export function falconBuild(): 'fast' | 'strict' | undefined {
  return loadedFalcon;
}

/**
 * Loads and self-tests the wasm core. Idempotent and safe to call concurrently:
 * every caller waits for the same load. A failed load can be retried.
 */
export function init(options: InitOptions = {}): Promise<void> {
  const falcon = options.falcon ?? 'fast';
  aoneOf(falcon, ['fast', 'strict'], 'falcon');
  if (loading && options.falcon !== undefined && requested !== falcon) {
    return Promise.reject(new PqcError('LOAD', `init() was already called for the '${requested}' Falcon build; it cannot change within one context`));
  }
  if (!loading) {
    requested = falcon;
    loading = (async () => {
      const core = await WasmCore.instantiate(await compileWasm(options.wasm, falcon));
      // The self-test runs through the public wrappers, which read the shared
      // core; it is synchronous, so no other code sees the core before it passed.
      setCore(core);
      try {
        selfTest(core, falcon);
      } catch (err) {
        setCore(undefined);
        throw err;
      }
      loadedFalcon = falcon;
    })();
    loading.catch(() => {
      loading = undefined;
    });
  }
  return loading;
}
