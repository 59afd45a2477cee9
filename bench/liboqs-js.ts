// "liboqsJs": Open Quantum Safe's liboqs as the npm package @oqs/liboqs-js 0.15.1 ships it (prebuilt by
// Emscripten, one wasm module per algorithm), through its documented synchronous calls on the main
// thread: the same shape of call as ours. Its Falcon signs from the encoded secret key on every call
// (it has no expanded-key API) and verifies from the encoded public key.
//
// Each create*() instantiates its own wasm module and allocates liboqs's algorithm object in it, which
// only destroy() frees: every instance made here is remembered and destroyed by freeLiboqs(), which
// bench/core.ts calls when it ends.

import type { KemImpl, SignImpl } from './core.js';

type Destroyable = { destroy(): void };
const live: Destroyable[] = [];

const keep = <T extends Destroyable>(instance: T): T => {
  live.push(instance);
  return instance;
};

export async function liboqsKem(name: 'mlkem512' | 'mlkem768' | 'mlkem1024'): Promise<KemImpl> {
  const oqs = await import('@oqs/liboqs-js');
  const create = { mlkem512: oqs.createMLKEM512, mlkem768: oqs.createMLKEM768, mlkem1024: oqs.createMLKEM1024 }[name];
  const kem = keep(await create());
  return {
    keygen: () => {
      const k = kem.generateKeyPair();
      return { pk: k.publicKey, sk: k.secretKey };
    },
    encaps: (pk) => {
      const e = kem.encapsulate(pk);
      return { ct: e.ciphertext, ss: e.sharedSecret };
    },
    decaps: (ct, sk) => kem.decapsulate(ct, sk),
  };
}

export async function liboqsSign(name: 'falcon512' | 'falcon1024'): Promise<SignImpl> {
  const oqs = await import('@oqs/liboqs-js');
  const create = { falcon512: oqs.createFalcon512, falcon1024: oqs.createFalcon1024 }[name];
  const s = keep(await create());
  return {
    keygen: () => {
      const k = s.generateKeyPair();
      return { pk: k.publicKey, sk: k.secretKey };
    },
    sign: (msg, sk) => s.sign(msg, sk),
    // liboqs-js takes the message first.
    verify: (sig, msg, pk) => s.verify(msg, sig, pk),
  };
}

/** Frees every instance made so far (their wasm modules' allocations); safe to call more than once. */
export function freeLiboqs(): void {
  for (const instance of live.splice(0)) instance.destroy();
}
