// The loaded core, shared by the wrappers. Set only by init() (runtime.ts).

import type { WasmCore } from './core.js';
import { PqcError } from './errors.js';

let current: WasmCore | undefined;

export function setCore(core: WasmCore | undefined): void {
  current = core;
}

/** True once init() has completed. */
export function isReady(): boolean {
  return current !== undefined;
}

/** The loaded core, or a clear error saying what to do. */
export function getCore(): WasmCore {
  if (!current) throw new PqcError('NOT_INITIALISED', 'pqc-iiot is not initialised: `await init()` before using the algorithms.');
  return current;
}
