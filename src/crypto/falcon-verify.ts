// Falcon-512 verification of protocol signatures with prepared public keys: a
// sender's key is decoded and put in NTT form once (bindings' verifier()),
// then every message of that sender is checked against it, about twice as
// fast as preparing the key on each call. Keys are remembered per public-key
// array (certificates keep theirs for their lifetime) in a WeakMap, so a
// dropped certificate drops its prepared key too (the bindings free its wasm
// memory when the verifier is collected).

import { falcon512, type Verifier } from '../../bindings/index.js';
import { equalBytes } from '../wire/bytes.js';

interface Prepared {
  readonly verifier: Verifier;
  /** The bytes the verifier was prepared from: an array changed in place since gets a new verifier. */
  readonly key: Uint8Array;
}

const prepared = new WeakMap<Uint8Array, Prepared>();

/** True if `signature` is a valid Falcon-512 signature of `message` under `publicKey` (never throws for a bad signature). */
export function verifyFalcon512(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  let p = prepared.get(publicKey);
  if (!p || p.verifier.freed || !equalBytes(p.key, publicKey)) {
    p?.verifier.free();
    p = { verifier: falcon512.verifier(publicKey), key: publicKey.slice() };
    prepared.set(publicKey, p);
  }
  return p.verifier.verify(signature, message);
}
