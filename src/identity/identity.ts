// An identity: a subject id and the three key pairs a participant holds:
// Falcon-512 (signing), ML-KEM-768 and X25519 (hybrid key agreement). Its
// export holds every secret key in the clear: store it only encrypted (a
// keystore does that; it is not part of this module).

import { abytesIn } from '../../bindings/assert-sdk.js';
import { PqcError, falcon512, init, mlKem768, shake256, type ExpandedSigningKey, type KemKeyPair, type SignKeyPair } from '../../bindings/index.js';
import { X25519_BYTES, x25519ExportPrivate, x25519Generate, type X25519KeyPair } from '../crypto/webcrypto.js';
import { ConfigError, SecurityError } from '../errors.js';
import { equalBytes } from '../wire/bytes.js';
import { ByteReader, ByteWriter, boundInput } from '../wire/codec.js';
import { FORMAT_VERSION, KEY_SUITE_ID, TYPE } from '../wire/encoding-ids.js';
import { malformed, readSubject, unsupported } from '../wire/fields.js';
import { LABELS } from '../wire/labels.js';
import { validateSubjectId } from '../wire/subject-id.js';

export type { X25519KeyPair } from '../crypto/webcrypto.js';

/** The public half of an identity: what a certificate binds to the subject id. */
export interface PublicKeys {
  /** Falcon-512 public key, 897 bytes. */
  readonly falcon: Uint8Array;
  /** ML-KEM-768 encapsulation key, 1,184 bytes. */
  readonly mlKem: Uint8Array;
  /** X25519 public key, 32 bytes. */
  readonly x25519: Uint8Array;
}

export const PUBLIC_KEY_LENGTHS = Object.freeze({
  falcon: falcon512.lengths.publicKey,
  mlKem: mlKem768.lengths.publicKey,
  x25519: X25519_BYTES,
});

/** Seed derivation labels (domain separation for deterministic identities). */
const SEED_LABELS = Object.freeze({
  falcon: LABELS.identitySeedFalcon,
  mlKem: LABELS.identitySeedMlKem,
  x25519: LABELS.identitySeedX25519,
});

/** A seed for deterministic generation: 32 to 256 bytes. */
export const SEED_BYTES = Object.freeze({ min: 32, max: 256 });

const CONSTRUCT = Symbol('Identity');

/**
 * A participant's id and key pairs. Create one with {@link generateIdentity}
 * or {@link importIdentity}; wipe it with {@link destroyIdentity}. After that,
 * reading any secret part throws a ConfigError('DESTROYED').
 */
export class Identity {
  readonly id: string;
  readonly publicKeys: PublicKeys;
  #falcon: SignKeyPair;
  #mlKem: KemKeyPair;
  #x25519: X25519KeyPair;
  #signingKey: ExpandedSigningKey | undefined;
  #destroyed = false;

  /** @internal use generateIdentity or importIdentity. */
  constructor(token: typeof CONSTRUCT, id: string, falcon: SignKeyPair, mlKem: KemKeyPair, x25519: X25519KeyPair) {
    if (token !== CONSTRUCT) throw new TypeError('use generateIdentity() or importIdentity()');
    this.id = id;
    this.#falcon = Object.freeze({ publicKey: falcon.publicKey, secretKey: falcon.secretKey });
    this.#mlKem = Object.freeze({ publicKey: mlKem.publicKey, secretKey: mlKem.secretKey });
    this.#x25519 = Object.freeze({ publicKey: x25519.publicKey, privateKey: x25519.privateKey });
    this.publicKeys = Object.freeze({ falcon: falcon.publicKey, mlKem: mlKem.publicKey, x25519: x25519.publicKey });
  }

  #live(): void {
    if (this.#destroyed) throw new ConfigError('DESTROYED', `identity ${this.id} was destroyed`);
  }

  /** The Falcon-512 key pair (secret key 1,281 bytes). */
  get falcon(): SignKeyPair {
    this.#live();
    return this.#falcon;
  }

  /** The ML-KEM-768 key pair (secret key 2,400 bytes). */
  get mlKem(): KemKeyPair {
    this.#live();
    return this.#mlKem;
  }

  /** The X25519 key pair (WebCrypto private key, raw 32-byte public key). */
  get x25519(): X25519KeyPair {
    this.#live();
    return this.#x25519;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * Signs with our Falcon-512 key. The key is expanded once, on first use, and
   * kept in wasm memory until destroy(): no division or square root on secret
   * values per signature, ~10x faster than signing from the encoded key
   * (docs/FALCON-FP.md). `seed` (88 bytes) makes it deterministic (test vectors).
   */
  sign(message: Uint8Array, seed?: Uint8Array): Uint8Array {
    this.#live();
    this.#signingKey ??= falcon512.expand(this.#falcon.secretKey);
    return this.#signingKey.sign(message, seed);
  }

  /** Same as destroyIdentity(this). */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#signingKey?.destroy();
    this.#signingKey = undefined;
    this.#falcon.secretKey.fill(0);
    this.#mlKem.secretKey.fill(0);
    // A CryptoKey cannot be wiped from JS; dropping the reference lets the
    // engine free it. Its material never lived in a JS buffer we own.
    this.#x25519 = Object.freeze({ publicKey: this.#x25519.publicKey, privateKey: undefined as unknown as CryptoKey });
  }
}

export interface GenerateIdentityOptions {
  /**
   * 32 to 256 bytes: derive every key deterministically (test vectors, or a
   * device provisioned from a secret). Each key's seed is SHAKE-256 over its
   * own label, the id and this seed, so one seed gives unrelated keys for
   * different ids. Without it, keys come from the platform's CSPRNG.
   */
  readonly seed?: Uint8Array;
  /** Whether the X25519 private key can be exported (needed by exportIdentity). Default true. */
  readonly extractable?: boolean;
}

function deriveSeed(label: Uint8Array, id: string, seed: Uint8Array, length: number): Uint8Array {
  const input = new ByteWriter(label.length + seed.length + 200).bytes16(label).string16(id).bytes16(seed).finish();
  try {
    return shake256(input, length);
  } finally {
    input.fill(0); // holds the seed
  }
}

/**
 * A new identity for subject `id`. Async, so it initialises the wasm core
 * itself (`await init()`, a no-op once done); the synchronous
 * CertificateAuthority.generate() cannot, and needs `await init()` first.
 *
 * @throws TypeError/RangeError for an invalid id or seed.
 * @example const plc = await generateIdentity('plc-7');
 */
export async function generateIdentity(id: string, options: GenerateIdentityOptions = {}): Promise<Identity> {
  validateSubjectId(id);
  await init(); // the key pairs come from the wasm core
  const extractable = options.extractable ?? true;
  const { seed } = options;
  if (seed === undefined) {
    const falcon = falcon512.keygen();
    const mlKem = mlKem768.keygen();
    return new Identity(CONSTRUCT, id, falcon, mlKem, await x25519Generate(undefined, extractable));
  }
  abytesIn(seed, SEED_BYTES.min, SEED_BYTES.max, 'seed');
  const falconSeed = deriveSeed(SEED_LABELS.falcon, id, seed, falcon512.lengths.keygenSeed);
  const mlKemSeed = deriveSeed(SEED_LABELS.mlKem, id, seed, mlKem768.lengths.keygenSeed);
  const x25519Seed = deriveSeed(SEED_LABELS.x25519, id, seed, X25519_BYTES);
  try {
    const falcon = falcon512.keygen(falconSeed);
    const mlKem = mlKem768.keygen(mlKemSeed);
    return new Identity(CONSTRUCT, id, falcon, mlKem, await x25519Generate(x25519Seed, extractable));
  } finally {
    // Each derived seed determines a secret key.
    falconSeed.fill(0);
    mlKemSeed.fill(0);
    x25519Seed.fill(0);
  }
}

/** Wipes the identity's secret keys; it cannot sign or decrypt afterwards. */
export function destroyIdentity(identity: Identity): void {
  identity.destroy();
}

// Export layout (all fixed except the id):
//   u8 type 'I' | u8 version 1 | u8 key suite 1 | string16 id (1..128)
//   | Falcon-512 pk 897 | Falcon-512 sk 1281 | ML-KEM-768 pk 1184 | ML-KEM-768 sk 2400
//   | X25519 pk 32 | X25519 scalar 32
const L = {
  falconPk: falcon512.lengths.publicKey,
  falconSk: falcon512.lengths.secretKey,
  kemPk: mlKem768.lengths.publicKey,
  kemSk: mlKem768.lengths.secretKey,
};

/** The largest identity export, in bytes. */
export const MAX_IDENTITY_EXPORT_BYTES = 3 + 2 + 128 + L.falconPk + L.falconSk + L.kemPk + L.kemSk + 2 * X25519_BYTES;

/**
 * The identity's id and every key, secret ones included, as bytes. The result
 * is a secret: encrypt it before it leaves memory (keystore), and wipe it
 * (`.fill(0)`) when done.
 *
 * @throws ConfigError('DESTROYED') for a destroyed identity; TypeError if its
 *   X25519 key is not extractable.
 */
export async function exportIdentity(identity: Identity): Promise<Uint8Array> {
  const { falcon, mlKem, x25519 } = identity; // throws if destroyed
  const scalar = await x25519ExportPrivate(x25519.privateKey);
  try {
    return new ByteWriter(MAX_IDENTITY_EXPORT_BYTES)
      .u8(TYPE.identity)
      .u8(FORMAT_VERSION)
      .u8(KEY_SUITE_ID)
      .string16(identity.id)
      .fixed(falcon.publicKey, L.falconPk, 'falcon public key')
      .fixed(falcon.secretKey, L.falconSk, 'falcon secret key')
      .fixed(mlKem.publicKey, L.kemPk, 'ML-KEM public key')
      .fixed(mlKem.secretKey, L.kemSk, 'ML-KEM secret key')
      .fixed(x25519.publicKey, X25519_BYTES, 'X25519 public key')
      .fixed(scalar, X25519_BYTES, 'X25519 private key')
      .finish(); // wipes the writer's buffer
  } finally {
    scalar.fill(0);
  }
}

export interface ImportIdentityOptions {
  /** Whether the X25519 private key stays exportable. Default true. */
  readonly extractable?: boolean;
}

const CONSISTENCY_MESSAGE = LABELS.identityConsistency;

/**
 * Parses an identity export and checks that every key pair is consistent
 * (Falcon: a test signature verifies; ML-KEM: the secret key embeds the public
 * key and decapsulates a test encapsulation to it; X25519: the public key is X25519(k, 9)). Does not modify `bytes`.
 *
 * @throws SecurityError TOO_LARGE, MALFORMED (including inconsistent keys) or
 *   UNSUPPORTED_VERSION.
 */
export async function importIdentity(bytes: Uint8Array, options: ImportIdentityOptions = {}): Promise<Identity> {
  boundInput(bytes, MAX_IDENTITY_EXPORT_BYTES, 'identity');
  await init(); // the consistency checks run on the wasm core
  const r = new ByteReader(bytes);
  if (r.u8('type') !== TYPE.identity) malformed('identity: not an identity export');
  const version = r.u8('version');
  if (version !== FORMAT_VERSION) unsupported(`identity: format version ${version}`);
  const suite = r.u8('key suite');
  if (suite !== KEY_SUITE_ID) unsupported(`identity: key suite ${suite}`);
  const id = readSubject(r, 'identity id');
  const falconPk = r.fixed(L.falconPk, 'falcon public key');
  const falconSk = r.fixed(L.falconSk, 'falcon secret key');
  const kemPk = r.fixed(L.kemPk, 'ML-KEM public key');
  const kemSk = r.fixed(L.kemSk, 'ML-KEM secret key');
  const xPk = r.fixed(X25519_BYTES, 'X25519 public key');
  const xSk = r.fixed(X25519_BYTES, 'X25519 private key');
  r.end('identity');

  // FIPS 203: dk = dk_pke (384 k) || ek || H(ek) || z.
  const embedded = kemSk.subarray(1152, 1152 + L.kemPk);
  if (!equalBytes(embedded, kemPk)) malformed('identity: ML-KEM secret key does not match its public key');

  const falcon = { publicKey: falconPk.slice(), secretKey: falconSk.slice() };
  const mlKem = { publicKey: kemPk.slice(), secretKey: kemSk.slice() };
  let ok = false;
  let shared: Uint8Array | undefined;
  let decapsulated: Uint8Array | undefined;
  try {
    const probeKem = mlKem768.encapsulate(mlKem.publicKey);
    shared = probeKem.sharedSecret;
    decapsulated = mlKem768.decapsulate(probeKem.ciphertext, mlKem.secretKey);
    if (!equalBytes(shared, decapsulated)) malformed('identity: ML-KEM secret key does not decapsulate for its public key');
    // Through an expanded key, as every signature with a secret key (docs/FALCON-FP.md).
    const probeKey = falcon512.expand(falcon.secretKey);
    let probe: Uint8Array;
    try {
      probe = probeKey.sign(CONSISTENCY_MESSAGE);
    } finally {
      probeKey.destroy();
    }
    if (!falcon512.verify(probe, CONSISTENCY_MESSAGE, falcon.publicKey)) {
      malformed('identity: Falcon secret key does not match its public key');
    }
    const x25519 = await x25519Generate(xSk, options.extractable ?? true);
    if (!equalBytes(x25519.publicKey, xPk)) malformed('identity: X25519 private key does not match its public key');
    const identity = new Identity(CONSTRUCT, id, falcon, mlKem, x25519);
    ok = true;
    return identity;
  } catch (err) {
    if (err instanceof SecurityError) throw err;
    if (err instanceof PqcError && err.code !== 'FAILED') throw err; // not initialised, no randomness: not the input's fault
    // A key WebCrypto refuses (it never should for 32 bytes) is still malformed input.
    throw new SecurityError('MALFORMED', { detail: `identity: ${(err as Error).message}` });
  } finally {
    shared?.fill(0); // probe secrets, never used
    decapsulated?.fill(0);
    if (!ok) {
      // Copies of secret keys we will not hand out.
      falcon.secretKey.fill(0);
      mlKem.secretKey.fill(0);
    }
  }
}
