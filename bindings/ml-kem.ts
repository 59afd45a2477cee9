// ML-KEM (FIPS 203) parameter sets over the wasm core.

import { abytes, aseed } from './assert.js';
import { check } from './errors.js';
import { generateKeypair } from './keypair.js';
import { KEM_PARAMS, type KemLengths, type KemParams } from './params.js';
import { getCore } from './state.js';

export interface KemKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

export interface Encapsulation {
  readonly ciphertext: Uint8Array;
  readonly sharedSecret: Uint8Array;
}

export interface Kem {
  readonly name: string;
  readonly lengths: KemLengths;
  /** A key pair; with `seed` (d || z, 64 bytes) it is deterministic, for known-answer tests. */
  keygen(seed?: Uint8Array): KemKeyPair;
  /** A ciphertext and the shared secret it carries; `seed` (m, 32 bytes) makes it deterministic. */
  encapsulate(publicKey: Uint8Array, seed?: Uint8Array): Encapsulation;
  /** The shared secret. A tampered ciphertext yields an unrelated secret (implicit rejection), not an error. */
  decapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array;
}

function makeKem(p: KemParams): Kem {
  const L = p.lengths;
  return Object.freeze({
    name: p.name,
    lengths: L,
    keygen(seed?: Uint8Array): KemKeyPair {
      const s = aseed(seed, L.keygenSeed, 'seed');
      const fn = getCore().fn;
      return generateKeypair(`${p.name} keygen`, L.publicKey, L.secretKey, s, {
        derand: (pk, sk, sd) => fn.pqc_kem_keypair_derand(p.id, pk, sk, sd),
        random: (pk, sk) => fn.pqc_kem_keypair(p.id, pk, sk),
      }, p.stackWipe);
    },
    encapsulate(publicKey: Uint8Array, seed?: Uint8Array): Encapsulation {
      abytes(publicKey, L.publicKey, 'publicKey');
      const s = aseed(seed, L.encapsSeed, 'seed');
      const core = getCore();
      return core.run(`${p.name} encapsulate`, (scratch) => {
        const pk = scratch(L.publicKey);
        const ct = scratch(L.ciphertext);
        const ss = scratch(L.sharedSecret);
        core.heap().set(publicKey, pk.ptr);
        if (s) {
          const sd = scratch(s.length);
          core.heap().set(s, sd.ptr);
          check(core.fn.pqc_kem_encaps_derand(p.id, ct.ptr, ss.ptr, pk.ptr, sd.ptr), `${p.name} encapsulate`);
        } else {
          check(core.fn.pqc_kem_encaps(p.id, ct.ptr, ss.ptr, pk.ptr), `${p.name} encapsulate`);
        }
        return { ciphertext: core.take(ct), sharedSecret: core.take(ss) };
      }, p.stackWipe);
    },
    decapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array {
      abytes(ciphertext, L.ciphertext, 'ciphertext');
      abytes(secretKey, L.secretKey, 'secretKey');
      const core = getCore();
      return core.run(`${p.name} decapsulate`, (scratch) => {
        const ct = scratch(L.ciphertext);
        const sk = scratch(L.secretKey);
        const ss = scratch(L.sharedSecret);
        core.heap().set(ciphertext, ct.ptr);
        core.heap().set(secretKey, sk.ptr);
        check(core.fn.pqc_kem_decaps(p.id, ss.ptr, ct.ptr, sk.ptr), `${p.name} decapsulate`);
        return core.take(ss);
      }, p.stackWipe);
    },
  });
}

export const mlKem512: Kem = /* @__PURE__ */ makeKem(KEM_PARAMS.mlKem512);
export const mlKem768: Kem = /* @__PURE__ */ makeKem(KEM_PARAMS.mlKem768);
export const mlKem1024: Kem = /* @__PURE__ */ makeKem(KEM_PARAMS.mlKem1024);
