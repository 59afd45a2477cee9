// Writes the fixed test vectors in test/vectors/ from OUR wasm core, and refuses
// to write anything that @noble/post-quantum (an independent implementation)
// does not reproduce byte for byte. Deterministic: seeds and messages are
// SHAKE-256 of fixed labels, so running it again gives the same files.
//
//   npx tsx scripts/make-vectors.ts
//
// test/bindings/kat.test.ts regenerates every vector from its seeds and checks it with noble again.

import { writeFileSync } from 'node:fs';
import { falcon512 as nFalcon512, falcon1024 as nFalcon1024, falcon512padded, falcon1024padded } from '@noble/post-quantum/falcon.js';
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import {
  falcon512,
  falcon1024,
  falconPadded512,
  falconPadded1024,
  init,
  mlKem512,
  mlKem768,
  mlKem1024,
  type Kem,
  type Signer,
} from '../bindings/index.js';
import {
  KEM_VECTORS_FILE,
  SIGNER_VECTORS_FILE,
  labelBytes,
  nobleSignWithSeed,
  sha256Hex,
  toHex,
  withBitFlipped,
  type KemVector,
  type SignerVector,
  type VectorFile,
} from '../test/vectors/format.js';

const CASES = 3;
/** Message lengths of the signature cases: empty, the NIST KAT's first length, and a longer one. */
const MESSAGE_LENGTHS = [0, 33, 500] as const;

type NobleKem = typeof ml_kem768;
type NobleSigner = typeof nFalcon512;

const kems: readonly (readonly [Kem, NobleKem])[] = [
  [mlKem512, ml_kem512],
  [mlKem768, ml_kem768],
  [mlKem1024, ml_kem1024],
];
const signers: readonly (readonly [Signer, NobleSigner])[] = [
  [falcon512, nFalcon512],
  [falcon1024, nFalcon1024],
  [falconPadded512, falcon512padded],
  [falconPadded1024, falcon1024padded],
];

function same(what: string, ours: Uint8Array | string, noble: Uint8Array | string): void {
  const a = typeof ours === 'string' ? ours : toHex(ours);
  const b = typeof noble === 'string' ? noble : toHex(noble);
  if (a !== b) throw new Error(`noble disagrees on ${what}:\n  ours  ${a.slice(0, 64)}...\n  noble ${b.slice(0, 64)}...`);
}

function kemVector(kem: Kem, noble: NobleKem, i: number): KemVector {
  const label = `pqc-iiot vectors ${kem.name} case ${i}`;
  const keygenSeed = labelBytes(`${label} keygen seed`, kem.lengths.keygenSeed);
  const encapsSeed = labelBytes(`${label} encaps seed`, kem.lengths.encapsSeed);
  const { publicKey, secretKey } = kem.keygen(keygenSeed);
  const { ciphertext, sharedSecret } = kem.encapsulate(publicKey, encapsSeed);
  // A different bit per case: first byte, middle, last byte.
  const tamperBit = [5, 4 * kem.lengths.ciphertext + 2, 8 * kem.lengths.ciphertext - 1][i % 3]!;
  const rejected = kem.decapsulate(withBitFlipped(ciphertext, tamperBit), secretKey);
  if (toHex(rejected) === toHex(sharedSecret)) throw new Error(`${kem.name}: tampered ciphertext gave the real secret`);

  const what = `${kem.name} case ${i}`;
  const nk = noble.keygen(keygenSeed);
  same(`${what} public key`, publicKey, nk.publicKey);
  same(`${what} secret key`, secretKey, nk.secretKey);
  const ne = noble.encapsulate(publicKey, encapsSeed);
  same(`${what} ciphertext`, ciphertext, ne.cipherText);
  same(`${what} shared secret`, sharedSecret, ne.sharedSecret);
  same(`${what} decapsulation`, sharedSecret, noble.decapsulate(ciphertext, secretKey));
  same(`${what} implicit rejection`, rejected, noble.decapsulate(withBitFlipped(ciphertext, tamperBit), secretKey));

  return {
    keygenSeed: toHex(keygenSeed),
    encapsSeed: toHex(encapsSeed),
    publicKey: toHex(publicKey),
    secretKeySha256: sha256Hex(secretKey),
    ciphertext: toHex(ciphertext),
    sharedSecret: toHex(sharedSecret),
    tamperBit,
    rejectedSharedSecret: toHex(rejected),
  };
}

function signerVector(signer: Signer, noble: NobleSigner, i: number): SignerVector {
  const label = `pqc-iiot vectors ${signer.name} case ${i}`;
  const keygenSeed = labelBytes(`${label} keygen seed`, signer.lengths.keygenSeed);
  const signSeed = labelBytes(`${label} sign seed`, signer.lengths.signSeed);
  const message = labelBytes(`${label} message`, MESSAGE_LENGTHS[i % MESSAGE_LENGTHS.length]!);
  const { publicKey, secretKey } = signer.keygen(keygenSeed);
  const signature = signer.sign(message, secretKey, signSeed);
  if (!signer.verify(signature, message, publicKey)) throw new Error(`${signer.name}: our own signature does not verify`);

  const what = `${signer.name} case ${i}`;
  const nk = noble.keygen(keygenSeed);
  same(`${what} public key`, publicKey, nk.publicKey);
  same(`${what} secret key`, secretKey, nk.secretKey);
  same(`${what} signature`, signature, nobleSignWithSeed(noble, message, nk.secretKey, signSeed));
  if (!noble.verify(signature, message, publicKey)) throw new Error(`${what}: noble rejects our signature`);

  return {
    keygenSeed: toHex(keygenSeed),
    signSeed: toHex(signSeed),
    message: toHex(message),
    publicKey: toHex(publicKey),
    secretKeySha256: sha256Hex(secretKey),
    signature: toHex(signature),
  };
}

function write<V>(file: URL, about: string, sets: Record<string, V[]>): void {
  const data: VectorFile<V> = { about, sets };
  const text = `${JSON.stringify(data, null, 1)}\n`;
  writeFileSync(file, text);
  console.log(`${file.pathname}: ${Object.keys(sets).length} parameter sets, ${text.length} bytes`);
}

await init();

const common =
  "Generated by scripts/make-vectors.ts from pqc-iiot's wasm core (PQClean via npm pqclean 0.8.1) and confirmed " +
  'byte for byte against @noble/post-quantum 0.7.1 at generation time. Seeds and messages are SHAKE-256 of fixed labels.';

write(
  KEM_VECTORS_FILE,
  `${common} Per case: derandomised keygen (d || z) and encapsulation (m); the ciphertext with tamperBit flipped decapsulates to rejectedSharedSecret (implicit rejection).`,
  Object.fromEntries(kems.map(([kem, noble]) => [kem.name, Array.from({ length: CASES }, (_, i) => kemVector(kem, noble, i))])),
);
write(
  SIGNER_VECTORS_FILE,
  `${common} Per case: keygen from a 48-byte seed; a detached signature from the 88-byte signing seed (40-byte nonce, then 48-byte sampler seed).`,
  Object.fromEntries(signers.map(([s, noble]) => [s.name, Array.from({ length: CASES }, (_, i) => signerVector(s, noble, i))])),
);
