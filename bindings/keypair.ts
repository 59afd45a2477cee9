// Key generation as ML-KEM and Falcon both do it in the core (liboqs shape):
// caller buffers for both keys, the derand entry with a seed (known-answer
// tests), the randomised entry without.

import { check } from './errors.js';
import { getCore } from './state.js';

/** The two C entries of one scheme's key generation, returning a status. */
export interface KeypairEntries {
  derand(pk: number, sk: number, seed: number): number;
  random(pk: number, sk: number): number;
}

/** A key pair of `publicKeyBytes` and `secretKeyBytes` from `entries`; `seed` already checked. */
export function generateKeypair(
  what: string,
  publicKeyBytes: number,
  secretKeyBytes: number,
  seed: Uint8Array | undefined,
  entries: KeypairEntries,
  stackWipe: number,
): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const core = getCore();
  return core.run(what, (scratch) => {
    const pk = scratch(publicKeyBytes);
    const sk = scratch(secretKeyBytes);
    if (seed) {
      const sd = scratch(seed.length);
      core.heap().set(seed, sd.ptr);
      check(entries.derand(pk.ptr, sk.ptr, sd.ptr), what);
    } else {
      check(entries.random(pk.ptr, sk.ptr), what);
    }
    return { publicKey: core.take(pk), secretKey: core.take(sk) };
  }, stackWipe);
}
