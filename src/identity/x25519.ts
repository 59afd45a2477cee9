// X25519 key pairs through WebCrypto. WebCrypto imports a private scalar only
// as PKCS#8 or JWK, so a 32-byte scalar is wrapped in the fixed 16-byte PKCS#8
// prefix of RFC 8410 (an encoding, not a primitive). The public key of a
// private key is computed as X25519(k, 9) (RFC 7748, section 6.1), so the
// scalar never has to be exported as a JWK string to learn it.

/** PrivateKeyInfo { v1, id-X25519 (1.3.101.110), OCTET STRING { OCTET STRING (32) } } minus the key. */
const PKCS8_PREFIX = Uint8Array.of(
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
);

export const X25519_KEY_BYTES = 32;

export interface X25519KeyPair {
  /** The raw 32-byte public key (u-coordinate). */
  readonly publicKey: Uint8Array;
  /** The private key; extractable only if the identity was created or imported extractable. */
  readonly privateKey: CryptoKey;
}

const ALGORITHM = { name: 'X25519' } as const;

const BASE_POINT = Uint8Array.of(9, ...new Uint8Array(31));

/** X25519(k, 9): the public key of `privateKey`. */
async function publicKeyOf(privateKey: CryptoKey): Promise<Uint8Array> {
  const base = await crypto.subtle.importKey('raw', BASE_POINT, ALGORITHM, true, []);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'X25519', public: base }, privateKey, 256));
}

/** A fresh random key pair. */
export async function generateX25519(extractable: boolean): Promise<X25519KeyPair> {
  const pair = (await crypto.subtle.generateKey(ALGORITHM, extractable, ['deriveBits'])) as CryptoKeyPair;
  const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { publicKey, privateKey: pair.privateKey };
}

/** The key pair whose private scalar is `scalar` (32 bytes; WebCrypto clamps it on use). */
export async function x25519FromScalar(scalar: Uint8Array, extractable: boolean): Promise<X25519KeyPair> {
  if (scalar.length !== X25519_KEY_BYTES) throw new RangeError(`X25519 scalar must be 32 bytes, got ${scalar.length}`);
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + X25519_KEY_BYTES);
  try {
    pkcs8.set(PKCS8_PREFIX);
    pkcs8.set(scalar, PKCS8_PREFIX.length);
    const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, ALGORITHM, extractable, ['deriveBits']);
    return { publicKey: await publicKeyOf(privateKey), privateKey };
  } finally {
    pkcs8.fill(0); // held the scalar
  }
}

/** The 32-byte private scalar of an extractable key (the caller wipes it). */
export async function exportX25519Scalar(privateKey: CryptoKey): Promise<Uint8Array> {
  if (!privateKey.extractable) throw new TypeError('the X25519 private key is not extractable');
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', privateKey));
  try {
    const prefixOk = pkcs8.length === PKCS8_PREFIX.length + X25519_KEY_BYTES && PKCS8_PREFIX.every((b, i) => pkcs8[i] === b);
    if (!prefixOk) throw new Error(`unexpected PKCS#8 form for an X25519 key (${pkcs8.length} bytes)`);
    return pkcs8.slice(PKCS8_PREFIX.length);
  } finally {
    pkcs8.fill(0); // held the scalar
  }
}
