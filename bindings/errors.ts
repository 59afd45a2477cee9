// Status codes of native/include/pqc.h, and the error thrown when a call fails.

export const Status = Object.freeze({
  OK: 0,
  FAILED: -1,
  RANDOMNESS: -2,
  BAD_SEED: -3,
  BAD_ARGUMENT: -4,
} as const);

export type PqcErrorCode = 'FAILED' | 'RANDOMNESS' | 'BAD_SEED' | 'BAD_ARGUMENT' | 'NOT_INITIALISED' | 'SELF_TEST' | 'ABORTED' | 'LOAD';

const byStatus: Record<number, PqcErrorCode> = { [-1]: 'FAILED', [-2]: 'RANDOMNESS', [-3]: 'BAD_SEED', [-4]: 'BAD_ARGUMENT' };

/**
 * Base class: every error the package throws on purpose is one of these, with a stable `code` (each subclass narrows
 * it to its own union). It lives here, on the lowest floor, so that the wasm core's PqcError and the SDK's errors
 * (src/errors.ts, which re-exports it) are one hierarchy.
 */
export class PqcIiotError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A failure of the wasm core itself (not a wrong argument, which throws TypeError/RangeError). */
export class PqcError extends PqcIiotError {
  declare readonly code: PqcErrorCode;
  constructor(code: PqcErrorCode, message: string) {
    super(code, message);
    // Explicit: a bundler that renames classes must not change what err.name says.
    this.name = 'PqcError';
  }
}

export function check(status: number, what: string): void {
  if (status === Status.OK) return;
  const code = byStatus[status] ?? 'FAILED';
  throw new PqcError(code, `${what} failed: ${code} (status ${status})`);
}
