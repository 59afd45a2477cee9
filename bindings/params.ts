// Parameter sets: ids mirror enum pqc_alg in native/include/pqc.h. Lengths are
// stated here (so they are constants users can read before init) and checked
// against the built module by the self-test, so the two cannot drift.

export interface KemLengths {
  readonly publicKey: number;
  readonly secretKey: number;
  readonly ciphertext: number;
  readonly sharedSecret: number;
  /** d || z for derandomised key generation (FIPS 203). */
  readonly keygenSeed: number;
  /** m for derandomised encapsulation. */
  readonly encapsSeed: number;
}

export interface SignerLengths {
  readonly publicKey: number;
  readonly secretKey: number;
  /** The maximum signature length (padded forms: the exact length). */
  readonly signature: number;
  readonly keygenSeed: number;
  /** 40-byte nonce then 48-byte sampler seed, in the order PQClean draws them. */
  readonly signSeed: number;
  /** The expanded signing key (Falcon's tree) that expand() keeps in wasm memory. */
  readonly expandedKey: number;
  /** The prepared public key (NTT form) that verifier() keeps in wasm memory. */
  readonly preparedKey: number;
}

export interface AeLengths {
  /** Each of the two keys: AES-256's and KMAC256's. */
  readonly key: number;
  readonly nonce: number;
  /** What seal() adds to the plaintext. */
  readonly tag: number;
  /** The native context (two pointers to what the pinned code keeps on the wasm heap). */
  readonly context: number;
}

export interface AeParams {
  readonly id: number;
  readonly name: string;
  readonly lengths: AeLengths;
  /** Stack bytes wiped below the caller's frame after each call (see STACK_WIPE). */
  readonly stackWipe: number;
}

export interface KemParams {
  readonly id: number;
  readonly name: string;
  readonly lengths: KemLengths;
  /** Stack bytes wiped below the caller's frame after each call (see STACK_WIPE). */
  readonly stackWipe: number;
}

export interface SignerParams {
  readonly id: number;
  readonly name: string;
  /** Padded forms give signatures of one fixed length, hiding nothing in their size. */
  readonly padded: boolean;
  readonly lengths: SignerLengths;
  /** Stack bytes wiped below the caller's frame after each call (see STACK_WIPE). */
  readonly stackWipe: number;
}

/**
 * How deep each family's calls use the wasm stack, with margin. Measured
 * (scratch: fill the stack with a pattern, run, find the deepest byte changed):
 * ML-KEM-1024 decapsulation 20,464 bytes; Falcon-512 signing 41,968;
 * Falcon-1024 signing 82,928; SHAKE-256 (its context is on the heap) well under
 * 4 KiB; the AE (ae.ts) 608 bytes (key setup; seal and open 256 and 272,
 * whatever the lengths). SHAKE-256's and the AE's bounds are still 16 KiB so
 * that they also clear what a verification (public data, not wiped, at most
 * ~8.3 KB deep) left below them: after any secret operation the whole stack
 * is zero (for the AE that costs ~0.3 us per call over a 1 KiB bound).
 * PQClean's code has no data-dependent recursion or alloca, so the depth is
 * the same for every input. Wiping only this much (SHAKE-256 of 300 bytes:
 * 20 us with the whole stack) instead of the whole 256 KiB stack saves
 * microseconds per call;
 * test/bindings/memory.test.ts checks after every operation of every parameter set that
 * the whole stack below the caller's frame is zero, so a bound that is too
 * small fails there.
 */
export const STACK_WIPE = Object.freeze({ mlKem: 32 * 1024, falcon512: 64 * 1024, falcon1024: 128 * 1024, shake: 16 * 1024, ae: 16 * 1024 });

const kem = (id: number, name: string, pk: number, sk: number, ct: number): KemParams =>
  Object.freeze({
    id,
    name,
    lengths: Object.freeze({ publicKey: pk, secretKey: sk, ciphertext: ct, sharedSecret: 32, keygenSeed: 64, encapsSeed: 32 }),
    stackWipe: STACK_WIPE.mlKem,
  });

const signer = (id: number, name: string, padded: boolean, pk: number, sk: number, sig: number): SignerParams =>
  Object.freeze({
    id,
    name,
    padded,
    lengths: Object.freeze({ publicKey: pk, secretKey: sk, signature: sig, keygenSeed: 48, signSeed: 88, expandedKey: pk === 897 ? 57_344 : 122_880, preparedKey: pk === 897 ? 1024 : 2048 }),
    stackWipe: pk === 897 ? STACK_WIPE.falcon512 : STACK_WIPE.falcon1024,
  });

/** The authenticated encryption of native/src/pqc_ae.c (id: PQC_AE). */
export const AE_PARAMS: AeParams = Object.freeze({
  id: 32,
  name: 'AES-256-CTR+KMAC256',
  lengths: Object.freeze({ key: 32, nonce: 12, tag: 16, context: 8 }),
  stackWipe: STACK_WIPE.ae,
});

export const KEM_PARAMS = Object.freeze({
  mlKem512: kem(1, 'ML-KEM-512', 800, 1632, 768),
  mlKem768: kem(2, 'ML-KEM-768', 1184, 2400, 1088),
  mlKem1024: kem(3, 'ML-KEM-1024', 1568, 3168, 1568),
});

export const SIGNER_PARAMS = Object.freeze({
  falcon512: signer(16, 'Falcon-512', false, 897, 1281, 752),
  falcon1024: signer(17, 'Falcon-1024', false, 1793, 2305, 1462),
  falconPadded512: signer(18, 'Falcon-padded-512', true, 897, 1281, 666),
  falconPadded1024: signer(19, 'Falcon-padded-1024', true, 1793, 2305, 1280),
});

/** Field ids of pqc_info (enum pqc_field). */
export const Field = Object.freeze({
  PUBLIC_KEY: 1,
  SECRET_KEY: 2,
  CIPHERTEXT: 3,
  SHARED_SECRET: 4,
  SIGNATURE: 5,
  KEYGEN_SEED: 6,
  ENCAPS_SEED: 7,
  SIGN_SEED: 8,
  EXPANDED_KEY: 9,
  PREPARED_KEY: 10,
  KEY: 11,
  NONCE: 12,
  TAG: 13,
  CONTEXT: 14,
} as const);

/** The most a SHAKE-256 or KMAC256 output may ask for: 1 MiB (the heap holds it). */
export const MAX_OUT_LEN = 1 << 20;
