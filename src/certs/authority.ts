// The certificate authority and its trust anchor. The anchor (id, suite,
// public key) is the root of trust every participant is provisioned with out
// of band; it is not signed, so compare its fingerprint when installing it.

import { abytes, abytesIn } from '../../bindings/assert-sdk.js';
import { PqcError, isReady, shake256, type ExpandedSigningKey, type SignKeyPair } from '../../bindings/index.js';
import { ConfigError } from '../errors.js';
import { equalBytes } from '../wire/bytes.js';
import { ByteReader, ByteWriter, boundInput } from '../wire/codec.js';
import { FORMAT_VERSION, TYPE } from '../wire/encoding-ids.js';
import { malformed, readSubject, unsupported } from '../wire/fields.js';
import { LABELS, signedMessage } from '../wire/labels.js';
import { validateSubjectId, MAX_SUBJECT_BYTES } from '../wire/subject-id.js';
import { SIGNATURE_SUITES, checkSignatureSuite, signatureSuiteFromId, type SignatureSuite } from './suites.js';

/** The root of trust: whose signatures certificates and revocation lists must carry. */
export interface TrustAnchor {
  readonly id: string;
  readonly suite: SignatureSuite;
  /** Falcon-512 (897 bytes) or Falcon-1024 (1,793 bytes) public key. */
  readonly publicKey: Uint8Array;
}

/** The largest trust anchor encoding, in bytes. */
export const MAX_TRUST_ANCHOR_BYTES = 3 + 2 + MAX_SUBJECT_BYTES + SIGNATURE_SUITES.falcon1024.signer.lengths.publicKey;

function checkAnchor(anchor: TrustAnchor): void {
  validateSubjectId(anchor.id, 'trust anchor id');
  const suite = checkSignatureSuite(anchor.suite);
  const length = SIGNATURE_SUITES[suite].signer.lengths.publicKey;
  abytes(anchor.publicKey, length, `trust anchor public key (${suite})`);
}

/**
 * u8 type 'A' | u8 version 1 | u8 suite | string16 id | public key (897 or 1,793 bytes).
 *
 * @throws TypeError/RangeError for an invalid anchor.
 */
export function encodeTrustAnchor(anchor: TrustAnchor): Uint8Array {
  checkAnchor(anchor);
  const info = SIGNATURE_SUITES[anchor.suite];
  return new ByteWriter(MAX_TRUST_ANCHOR_BYTES)
    .u8(TYPE.trustAnchor)
    .u8(FORMAT_VERSION)
    .u8(info.id)
    .string16(anchor.id)
    .fixed(anchor.publicKey, info.signer.lengths.publicKey, 'trust anchor public key')
    .finish();
}

/**
 * Parses a trust anchor (no cryptography: an anchor is trusted by how it was
 * delivered, not by what it says).
 *
 * @throws SecurityError TOO_LARGE, MALFORMED or UNSUPPORTED_VERSION.
 */
export function decodeTrustAnchor(bytes: Uint8Array): TrustAnchor {
  boundInput(bytes, MAX_TRUST_ANCHOR_BYTES, 'trust anchor');
  const r = new ByteReader(bytes);
  if (r.u8('type') !== TYPE.trustAnchor) malformed('trust anchor: wrong type byte');
  const version = r.u8('version');
  if (version !== FORMAT_VERSION) unsupported(`trust anchor: format version ${version}`);
  const suite = signatureSuiteFromId(r.u8('suite'), 'trust anchor');
  const id = readSubject(r, 'trust anchor id');
  const publicKey = r.fixed(SIGNATURE_SUITES[suite].signer.lengths.publicKey, 'trust anchor public key').slice();
  r.end('trust anchor');
  return Object.freeze({ id, suite, publicKey });
}

const FINGERPRINT_LABEL = LABELS.trustAnchorFingerprint;

/** SHAKE-256 (32 bytes) of the anchor's encoding, domain-separated: compare it out of band. */
export function trustAnchorFingerprint(anchor: TrustAnchor): Uint8Array {
  return shake256(signedMessage(FINGERPRINT_LABEL, encodeTrustAnchor(anchor)), 32);
}

/** True if both anchors have the same id, suite and public key. */
export function sameTrustAnchor(a: TrustAnchor, b: TrustAnchor): boolean {
  return a.id === b.id && a.suite === b.suite && equalBytes(a.publicKey, b.publicKey);
}

export interface CertificateAuthorityOptions {
  /** Default 'falcon512'. */
  readonly suite?: SignatureSuite;
  /** 32 to 256 bytes: derive the key pair deterministically (test vectors). */
  readonly seed?: Uint8Array;
}

const CA_SEED_LABEL = LABELS.caSeed;

/** A CA's secret key and, once it has signed, that key expanded (wasm memory). */
interface AuthorityKey {
  readonly secretKey: Uint8Array;
  signingKey: ExpandedSigningKey | undefined;
}

const authorityKeys = new WeakMap<CertificateAuthority, AuthorityKey>();
const CONSTRUCT = Symbol('CertificateAuthority');

/** The CA's factories are synchronous, so they cannot load the wasm core themselves: say so plainly. */
function requireInit(what: string): void {
  if (!isReady()) {
    throw new ConfigError(
      'NOT_INITIALISED',
      `${what} is synchronous and needs \`await init()\` first (generateIdentity() and importIdentity() are async and call init() themselves)`,
    );
  }
}

/**
 * A CA: an id and a Falcon key pair that signs certificates and revocation
 * lists. Its secret key is reachable only through the issue functions, which
 * sign with it expanded once into Falcon's signing tree (kept in wasm memory
 * until destroy()): no division or square root on the secret key per
 * signature (docs/FALCON-FP.md), the same bytes as signing from the encoded key.
 *
 * Unlike generateIdentity(), the factories are synchronous: call
 * `await init()` once before them (they throw ConfigError('NOT_INITIALISED')
 * otherwise).
 */
export class CertificateAuthority {
  readonly id: string;
  readonly suite: SignatureSuite;
  readonly publicKey: Uint8Array;
  readonly trustAnchor: TrustAnchor;

  /** @internal use CertificateAuthority.generate or .fromKeys. */
  constructor(token: typeof CONSTRUCT, id: string, suite: SignatureSuite, keys: SignKeyPair, signingKey?: ExpandedSigningKey) {
    if (token !== CONSTRUCT) throw new TypeError('use CertificateAuthority.generate() or .fromKeys()');
    this.id = id;
    this.suite = suite;
    this.publicKey = keys.publicKey;
    this.trustAnchor = Object.freeze({ id, suite, publicKey: keys.publicKey });
    authorityKeys.set(this, { secretKey: keys.secretKey, signingKey });
  }

  /**
   * A new CA. Synchronous: needs `await init()` first (generateIdentity()
   * initialises by itself because it is async; this cannot).
   *
   * @throws TypeError/RangeError for an invalid id, suite or seed;
   *   ConfigError('NOT_INITIALISED') before init().
   * @example await init(); const ca = CertificateAuthority.generate('plant-ca');
   */
  static generate(id: string, options: CertificateAuthorityOptions = {}): CertificateAuthority {
    validateSubjectId(id, 'CA id');
    const suite = checkSignatureSuite(options.suite ?? 'falcon512');
    if (options.seed !== undefined) abytesIn(options.seed, 32, 256, 'seed');
    requireInit('CertificateAuthority.generate()');
    const { signer } = SIGNATURE_SUITES[suite];
    if (options.seed === undefined) return new CertificateAuthority(CONSTRUCT, id, suite, signer.keygen());
    const { seed } = options;
    // Sized up front: ByteWriter must not grow during a bytes write (see the codec).
    const input = new ByteWriter(512).bytes16(CA_SEED_LABEL).u8(SIGNATURE_SUITES[suite].id).string16(id).bytes16(seed).finish();
    const keySeed = shake256(input, signer.lengths.keygenSeed);
    try {
      return new CertificateAuthority(CONSTRUCT, id, suite, signer.keygen(keySeed));
    } finally {
      input.fill(0); // holds the seed
      keySeed.fill(0); // determines the secret key
    }
  }

  /**
   * A CA from a stored key pair (the caller keeps the secret key encrypted at
   * rest). Checks that the pair is consistent (a probe signature, made with the
   * expanded key the CA then keeps). The CA keeps `keys.secretKey` itself (not
   * a copy): destroy() wipes it. Synchronous: needs `await init()` first.
   *
   * @throws TypeError/RangeError for wrong inputs; ConfigError('KEY_MISMATCH')
   *   if the secret key does not match the public key;
   *   ConfigError('NOT_INITIALISED') before init().
   */
  static fromKeys(id: string, suite: SignatureSuite, keys: SignKeyPair): CertificateAuthority {
    validateSubjectId(id, 'CA id');
    const { signer } = SIGNATURE_SUITES[checkSignatureSuite(suite)];
    requireInit('CertificateAuthority.fromKeys()');
    const probe = LABELS.caConsistency;
    let signingKey: ExpandedSigningKey | undefined;
    let valid = false;
    try {
      signingKey = signer.expand(keys.secretKey);
      valid = signer.verify(signingKey.sign(probe), probe, keys.publicKey);
    } catch (err) {
      // A wrong argument, or a core that cannot run (aborted, no randomness), is not a key mismatch.
      if (err instanceof TypeError || err instanceof RangeError || (err instanceof PqcError && err.code !== 'FAILED')) {
        signingKey?.destroy();
        throw err;
      }
    }
    if (!valid) {
      signingKey?.destroy();
      throw new ConfigError('KEY_MISMATCH', 'the CA secret key does not match its public key');
    }
    return new CertificateAuthority(CONSTRUCT, id, suite, keys, signingKey);
  }

  get destroyed(): boolean {
    return !authorityKeys.has(this);
  }

  /** Wipes the secret key and its expanded form; the CA cannot issue anything afterwards. */
  destroy(): void {
    const key = authorityKeys.get(this);
    if (key === undefined) return;
    authorityKeys.delete(this);
    try {
      key.signingKey?.destroy(); // zeroes the expanded key in wasm memory
    } finally {
      key.signingKey = undefined;
      key.secretKey.fill(0);
    }
  }
}

/**
 * Signs `label || tbs` with the CA's key (for the issue functions of this
 * package; not exported from the package index). The key is expanded on first
 * use and kept until destroy(); `seed` (88 bytes) gives the same signature
 * as Signer.sign with that seed (test vectors).
 */
export function signAsAuthority(ca: CertificateAuthority, label: Uint8Array, tbs: Uint8Array, seed?: Uint8Array): Uint8Array {
  const key = authorityKeys.get(ca);
  if (!key) throw new ConfigError('DESTROYED', `CA ${ca.id} was destroyed`);
  key.signingKey ??= SIGNATURE_SUITES[ca.suite].signer.expand(key.secretKey);
  return key.signingKey.sign(signedMessage(label, tbs), seed);
}

/** True if `signature` by `anchor` over `label || tbs` verifies. */
export function verifyByAnchor(anchor: TrustAnchor, label: Uint8Array, tbs: Uint8Array, signature: Uint8Array): boolean {
  return SIGNATURE_SUITES[anchor.suite].signer.verify(signature, signedMessage(label, tbs), anchor.publicKey);
}
