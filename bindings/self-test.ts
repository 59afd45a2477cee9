// Run by init() before the core is handed out: the build's lengths match the
// table in params.ts, and ML-KEM-768 key generation and decapsulation, the AE
// and a Falcon-512 verification (plain and with a prepared key) give the values
// recorded in self-test-vector.ts (recomputed independently by
// test/bindings/self-test.test.ts). A miscompiled or truncated module fails here
// instead of producing wrong keys later.

import { ae } from './ae.js';
import type { WasmCore } from './core.js';
import { fromBase64, sequence, toHex } from './encoding.js';
import { PqcError } from './errors.js';
import { falcon512 } from './falcon.js';
import { mlKem768 } from './ml-kem.js';
import { AE_PARAMS, Field, KEM_PARAMS, SIGNER_PARAMS } from './params.js';
import { shake256With } from './shake.js';
import * as vector from './self-test-vector.js';

export function selfTest(core: WasmCore, falcon: 'fast' | 'strict'): void {
  const fail = (what: string): never => {
    throw new PqcError('SELF_TEST', `pqc.wasm self-test failed: ${what}. The module is corrupt or was built from other sources.`);
  };
  for (const p of Object.values(KEM_PARAMS)) {
    const L = p.lengths;
    const want: [number, number][] = [
      [Field.PUBLIC_KEY, L.publicKey],
      [Field.SECRET_KEY, L.secretKey],
      [Field.CIPHERTEXT, L.ciphertext],
      [Field.SHARED_SECRET, L.sharedSecret],
      [Field.KEYGEN_SEED, L.keygenSeed],
      [Field.ENCAPS_SEED, L.encapsSeed],
    ];
    for (const [field, len] of want) if (core.fn.pqc_info(p.id, field) !== len) fail(`${p.name} length ${field}`);
  }
  for (const p of Object.values(SIGNER_PARAMS)) {
    const L = p.lengths;
    const want: [number, number][] = [
      [Field.PUBLIC_KEY, L.publicKey],
      [Field.SECRET_KEY, L.secretKey],
      [Field.SIGNATURE, L.signature],
      [Field.KEYGEN_SEED, L.keygenSeed],
      [Field.SIGN_SEED, L.signSeed],
      [Field.EXPANDED_KEY, L.expandedKey],
      [Field.PREPARED_KEY, L.preparedKey],
    ];
    for (const [field, len] of want) if (core.fn.pqc_info(p.id, field) !== len) fail(`${p.name} length ${field}`);
  }

  const A = AE_PARAMS.lengths;
  const aeLengths: [number, number][] = [
    [Field.KEY, A.key],
    [Field.NONCE, A.nonce],
    [Field.TAG, A.tag],
    [Field.CONTEXT, A.context],
  ];
  for (const [field, len] of aeLengths) if (core.fn.pqc_info(AE_PARAMS.id, field) !== len) fail(`${AE_PARAMS.name} length ${field}`);

  const kp = mlKem768.keygen(sequence(64));
  const sharedSecret = mlKem768.decapsulate(fromBase64(vector.MLKEM768_CIPHERTEXT), kp.secretKey);
  const transcript = new Uint8Array(kp.publicKey.length + sharedSecret.length);
  transcript.set(kp.publicKey);
  transcript.set(sharedSecret, kp.publicKey.length);
  if (toHex(shake256With(core, transcript, 32)) !== vector.MLKEM768_DIGEST) fail('ML-KEM-768 known answer');
  kp.secretKey.fill(0);
  sharedSecret.fill(0);
  transcript.fill(0);

  const aeKey = ae.key(sequence(32), sequence(32, 32));
  try {
    const [nonce, aad] = [sequence(12, 64), sequence(3, 96)];
    const sealed = aeKey.seal(nonce, new TextEncoder().encode(vector.SELF_TEST_MESSAGE), aad);
    if (toHex(sealed) !== vector.AE_SEALED) fail(`${AE_PARAMS.name} known answer`);
    sealed[0]! ^= 1;
    if (aeKey.open(nonce, sealed, aad) !== undefined) fail(`${AE_PARAMS.name} accepted a modified ciphertext`);
  } finally {
    aeKey.free();
  }

  const message = new TextEncoder().encode(vector.SELF_TEST_MESSAGE);
  const pk = fromBase64(vector.FALCON512_PUBLIC_KEY);
  const sig = fromBase64(vector.FALCON512_SIGNATURE);
  const verifier = falcon512.verifier(pk);
  if (!falcon512.verify(sig, message, pk)) fail('Falcon-512 known signature');
  if (!verifier.verify(sig, message)) fail('Falcon-512 known signature (prepared key)');
  message[0]! ^= 1;
  if (falcon512.verify(sig, message, pk)) fail('Falcon-512 accepted a wrong message');
  if (verifier.verify(sig, message)) fail('Falcon-512 accepted a wrong message (prepared key)');
  verifier.free();
  if (core.fn.pqc_falcon_native_fp() !== (falcon === 'fast' ? 1 : 0)) fail(`this is not the ${falcon} Falcon build`);
}
