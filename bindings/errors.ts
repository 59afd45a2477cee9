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

/** A failure of the wasm core itself (not a wrong argument, which throws TypeError/RangeError). */
export class PqcError extends Error {
  readonly code: PqcErrorCode;
  constructor(code: PqcErrorCode, message: string) {
    super(message);
    this.name = 'PqcError';
    this.code = code;
  }
}

export function check(status: number, what: string): void {
  if (status === Status.OK) return;
  const code = byStatus[status] ?? 'FAILED';
  throw new PqcError(code, `${what} failed: ${code} (status ${status})`);
}
