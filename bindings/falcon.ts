// Falcon signatures (and the padded, constant-length form) over the wasm core.

import { abytes, aseed, isBytes } from './assert.js';
import { PqcError, check, Status } from './errors.js';
import { generateKeypair } from './keypair.js';
import { SIGNER_PARAMS, type SignerLengths, type SignerParams } from './params.js';
import type { Region } from './core.js';
import { getCore } from './state.js';

export interface SignKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/**
 * A Falcon secret key expanded once into the signing tree, kept in wasm
 * memory: each signature then needs no division or square root on secret
 * values (docs/FALCON-FP.md) and costs a fraction of sign(). Signatures are
 * byte-identical to sign()'s for the same seed. Call destroy() when done: it
 * zeroes the expanded key (it is also wiped if the object is garbage-collected).
 */
export interface ExpandedSigningKey {
  readonly name: string;
  readonly destroyed: boolean;
  sign(message: Uint8Array, seed?: Uint8Array): Uint8Array;
  destroy(): void;
}

/**
 * A Falcon public key prepared once for verification (decoded and put in NTT
 * form, kept in wasm memory): each verify() then skips that work and answers
 * exactly as Signer.verify() would with the same key. A key that does not
 * decode gives a verifier that rejects every signature, as verify() does.
 * Public data only: nothing is secret here. Call free() when done (the
 * region is also freed if the object is garbage-collected).
 */
export interface Verifier {
  readonly name: string;
  /** True once free() was called; verify() then throws. */
  readonly freed: boolean;
  /** True for a valid signature of `message`; false for any invalid or malformed one (never throws for it). */
  verify(signature: Uint8Array, message: Uint8Array): boolean;
  free(): void;
}

// Wipes expanded keys that were dropped without destroy().
const expandedKeys = new FinalizationRegistry<{ region: Region; live: { on: boolean } }>(({ region, live }) => {
  if (live.on) {
    live.on = false;
    getCore().free(region);
  }
});

export interface Signer {
  readonly name: string;
  readonly padded: boolean;
  readonly lengths: SignerLengths;
  /** A key pair; with `seed` (48 bytes) it is deterministic, for known-answer tests. */
  keygen(seed?: Uint8Array): SignKeyPair;
  /** A detached signature of `message`; `seed` (88 bytes: nonce then sampler seed) makes it deterministic. */
  sign(message: Uint8Array, secretKey: Uint8Array, seed?: Uint8Array): Uint8Array;
  /** True for a valid signature; false for any invalid or malformed one (never throws for it). */
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /** Expands `secretKey` once for fast, division-free signing (see ExpandedSigningKey). */
  expand(secretKey: Uint8Array): ExpandedSigningKey;
  /** Prepares `publicKey` once for repeated verification (see Verifier). */
  verifier(publicKey: Uint8Array): Verifier;
}

// Frees prepared public keys that were dropped without free().
const preparedKeys = new FinalizationRegistry<{ region: Region; live: { on: boolean } }>(({ region, live }) => {
  if (live.on) {
    live.on = false;
    getCore().free(region);
  }
});

/** A signature of impossible length is simply not valid (checked before any copy into wasm memory). */
function plausible(p: SignerParams, signature: Uint8Array, message: Uint8Array): boolean {
  if (!isBytes(signature)) abytes(signature, undefined, 'signature');
  abytes(message, undefined, 'message');
  return signature.length !== 0 && signature.length <= p.lengths.signature;
}

function makeVerifier(p: SignerParams, publicKey: Uint8Array): Verifier {
  const L = p.lengths;
  abytes(publicKey, L.publicKey, 'publicKey');
  const core = getCore();
  const region = core.alloc(L.preparedKey);
  let decodes: boolean;
  try {
    decodes = core.runPublic(`${p.name} verifier`, L.publicKey, (input) => {
      core.heap().set(publicKey, input);
      return core.fn.pqc_verify_prepare(p.id, region.ptr, input) === Status.OK;
    });
  } catch (err) {
    core.free(region);
    throw err;
  }
  const live = { on: true };
  const verifier = {
    name: p.name,
    get freed(): boolean {
      return !live.on;
    },
    verify(signature: Uint8Array, message: Uint8Array): boolean {
      const ok = plausible(p, signature, message);
      if (!live.on) throw new PqcError('FAILED', `${p.name} verifier was freed`);
      if (!ok || !decodes) return false;
      const sigLen = signature.length;
      return core.runPublic(`${p.name} verify (prepared)`, sigLen + message.length, (input) => {
        const heap = core.heap();
        heap.set(signature, input);
        heap.set(message, input + sigLen);
        return core.fn.pqc_verify_prepared(p.id, input, sigLen, input + sigLen, message.length, region.ptr) === Status.OK;
      });
    },
    free(): void {
      if (!live.on) return;
      live.on = false;
      preparedKeys.unregister(verifier);
      core.free(region);
    },
  };
  preparedKeys.register(verifier, { region, live }, verifier);
  return Object.freeze(verifier);
}

function makeExpanded(p: SignerParams, secretKey: Uint8Array): ExpandedSigningKey {
  const L = p.lengths;
  abytes(secretKey, L.secretKey, 'secretKey');
  const core = getCore();
  const region = core.alloc(L.expandedKey); // emmalloc aligns to 8 bytes, as the tree of doubles needs
  const live = { on: true };
  try {
    core.run(`${p.name} expand`, (scratch) => {
      const sk = scratch(L.secretKey);
      core.heap().set(secretKey, sk.ptr);
      check(core.fn.pqc_sign_expand(p.id, region.ptr, sk.ptr), `${p.name} expand`);
    }, p.stackWipe);
  } catch (err) {
    core.free(region);
    throw err;
  }
  const key = {
    name: p.name,
    get destroyed(): boolean {
      return !live.on;
    },
    sign(message: Uint8Array, seed?: Uint8Array): Uint8Array {
      abytes(message, undefined, 'message');
      const s = aseed(seed, L.signSeed, 'seed');
      if (!live.on) throw new PqcError('FAILED', `${p.name} signing key was destroyed`);
      return core.run(`${p.name} sign (expanded)`, (scratch) => {
        const sig = scratch(L.signature);
        const len = scratch(4);
        const m = scratch(message.length);
        core.heap().set(message, m.ptr);
        let seedPtr = 0;
        if (s) {
          const sd = scratch(s.length);
          core.heap().set(s, sd.ptr);
          seedPtr = sd.ptr;
        }
        check(core.fn.pqc_sign_expanded(p.id, sig.ptr, len.ptr, m.ptr, message.length, region.ptr, seedPtr), `${p.name} sign`);
        return core.take(sig, core.readU32(len.ptr));
      }, p.stackWipe);
    },
    destroy(): void {
      if (!live.on) return;
      live.on = false;
      expandedKeys.unregister(key);
      core.free(region);
    },
  };
  expandedKeys.register(key, { region, live }, key);
  return Object.freeze(key);
}

function makeSigner(p: SignerParams): Signer {
  const L = p.lengths;
  return Object.freeze({
    expand(secretKey: Uint8Array): ExpandedSigningKey {
      return makeExpanded(p, secretKey);
    },
    verifier(publicKey: Uint8Array): Verifier {
      return makeVerifier(p, publicKey);
    },
    name: p.name,
    padded: p.padded,
    lengths: L,
    keygen(seed?: Uint8Array): SignKeyPair {
      const s = aseed(seed, L.keygenSeed, 'seed');
      const fn = getCore().fn;
      return generateKeypair(`${p.name} keygen`, L.publicKey, L.secretKey, s, {
        derand: (pk, sk, sd) => fn.pqc_sign_keypair_derand(p.id, pk, sk, sd),
        random: (pk, sk) => fn.pqc_sign_keypair(p.id, pk, sk),
      }, p.stackWipe);
    },
    sign(message: Uint8Array, secretKey: Uint8Array, seed?: Uint8Array): Uint8Array {
      abytes(message, undefined, 'message');
      abytes(secretKey, L.secretKey, 'secretKey');
      const s = aseed(seed, L.signSeed, 'seed');
      const core = getCore();
      return core.run(`${p.name} sign`, (scratch) => {
        const sig = scratch(L.signature);
        const len = scratch(4);
        const m = scratch(message.length);
        const sk = scratch(L.secretKey);
        core.heap().set(message, m.ptr);
        core.heap().set(secretKey, sk.ptr);
        if (s) {
          const sd = scratch(s.length);
          core.heap().set(s, sd.ptr);
          check(core.fn.pqc_sign_derand(p.id, sig.ptr, len.ptr, m.ptr, message.length, sk.ptr, sd.ptr), `${p.name} sign`);
        } else {
          check(core.fn.pqc_sign(p.id, sig.ptr, len.ptr, m.ptr, message.length, sk.ptr), `${p.name} sign`);
        }
        return core.take(sig, core.readU32(len.ptr));
      }, p.stackWipe);
    },
    verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
      const ok = plausible(p, signature, message);
      abytes(publicKey, L.publicKey, 'publicKey');
      if (!ok) return false;
      const core = getCore();
      const sigLen = signature.length;
      const mLen = message.length;
      // Public data only: runPublic() (no per-call allocation, no stack wipe; see core.ts).
      return core.runPublic(`${p.name} verify`, sigLen + mLen + L.publicKey, (input) => {
        const heap = core.heap();
        heap.set(signature, input);
        heap.set(message, input + sigLen);
        heap.set(publicKey, input + sigLen + mLen);
        return core.fn.pqc_verify(p.id, input, sigLen, input + sigLen, mLen, input + sigLen + mLen) === Status.OK;
      });
    },
  });
}

export const falcon512: Signer = /* @__PURE__ */ makeSigner(SIGNER_PARAMS.falcon512);
export const falcon1024: Signer = /* @__PURE__ */ makeSigner(SIGNER_PARAMS.falcon1024);
export const falconPadded512: Signer = /* @__PURE__ */ makeSigner(SIGNER_PARAMS.falconPadded512);
export const falconPadded1024: Signer = /* @__PURE__ */ makeSigner(SIGNER_PARAMS.falconPadded1024);
