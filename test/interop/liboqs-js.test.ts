// Interoperability with Open Quantum Safe's liboqs, as @oqs/liboqs-js 0.15.1 ships it (compiled by
// Emscripten into its own wasm modules, with its own wrappers and randomness). Every parameter set both
// have, both directions: what one side encapsulates or signs, the other side decapsulates or verifies;
// a secret key made by one side works in the other (the SDK may be handed keys made by either); and a
// flipped bit is noticed on both sides, so that each positive check could also fail.
//
// liboqs has no seeded key generation or signing: keys and randomness differ per run, only the
// messages are fixed (labelBytes). Its Falcon-1024 key generation takes ~0.2 s here, so each test makes
// one key pair per side and then runs ROUNDS messages or encapsulations under it.

import {
  createFalcon1024,
  createFalcon512,
  createFalconPadded1024,
  createFalconPadded512,
  createMLKEM1024,
  createMLKEM512,
  createMLKEM768,
} from '@oqs/liboqs-js';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  falcon1024,
  falcon512,
  falconPadded1024,
  falconPadded512,
  init,
  mlKem1024,
  mlKem512,
  mlKem768,
  type Kem,
  type Signer,
} from '../../bindings/index.js';
import { labelBytes, toHex, withBitFlipped } from '../vectors/format.js';

const ROUNDS = 5;

/** The part of liboqs-js's KEM classes used here (each parameter set is its own class). */
interface OqsKem {
  generateKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array };
  encapsulate(publicKey: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array };
  decapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array;
  destroy(): void;
}

/** The part of liboqs-js's signature classes used here; note verify's argument order (message first). */
interface OqsSigner {
  generateKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array };
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean;
  destroy(): void;
}

beforeAll(async () => {
  await init();
});

/** Runs `body` with a fresh liboqs instance (each one owns a wasm module) and frees it whatever happens. */
async function withOqs<T extends { destroy(): void }>(create: () => Promise<T>, body: (oqs: T) => void): Promise<void> {
  const oqs = await create();
  try {
    body(oqs);
  } finally {
    oqs.destroy();
  }
}

/** A bit to flip in round `i`: spread over the whole buffer, never the same position twice in a test. */
const bitFor = (bytes: Uint8Array, i: number): number => (i * 2069 + 11) % (bytes.length * 8);

const KEMS: readonly { ours: Kem; create: () => Promise<OqsKem> }[] = [
  { ours: mlKem512, create: createMLKEM512 },
  { ours: mlKem768, create: createMLKEM768 },
  { ours: mlKem1024, create: createMLKEM1024 },
];

const SIGNERS: readonly { ours: Signer; create: () => Promise<OqsSigner> }[] = [
  { ours: falcon512, create: createFalcon512 },
  { ours: falcon1024, create: createFalcon1024 },
  { ours: falconPadded512, create: createFalconPadded512 },
  { ours: falconPadded1024, create: createFalconPadded1024 },
];

describe.each(KEMS)('$ours.name and liboqs-js', ({ ours, create }) => {
  it('liboqs decapsulates what we encapsulate to its key; a flipped bit gives another secret', () =>
    withOqs(create, (oqs) => {
      const { publicKey, secretKey } = oqs.generateKeyPair();
      for (let i = 0; i < ROUNDS; i++) {
        const { ciphertext, sharedSecret } = ours.encapsulate(publicKey);
        expect(toHex(oqs.decapsulate(ciphertext, secretKey))).toBe(toHex(sharedSecret));
        const tampered = withBitFlipped(ciphertext, bitFor(ciphertext, i));
        expect(toHex(oqs.decapsulate(tampered, secretKey))).not.toBe(toHex(sharedSecret));
      }
    }));

  it('we decapsulate what liboqs encapsulates to our key; a flipped bit gives another secret', () =>
    withOqs(create, (oqs) => {
      const { publicKey, secretKey } = ours.keygen();
      for (let i = 0; i < ROUNDS; i++) {
        const { ciphertext, sharedSecret } = oqs.encapsulate(publicKey);
        expect(toHex(ours.decapsulate(ciphertext, secretKey))).toBe(toHex(sharedSecret));
        const tampered = withBitFlipped(ciphertext, bitFor(ciphertext, i));
        expect(toHex(ours.decapsulate(tampered, secretKey))).not.toBe(toHex(sharedSecret));
      }
    }));

  it('secret keys carry over, and both sides give the same implicit-rejection secret', () =>
    withOqs(create, (oqs) => {
      const mine = ours.keygen();
      const theirs = oqs.generateKeyPair();
      for (let i = 0; i < ROUNDS; i++) {
        const a = ours.encapsulate(mine.publicKey);
        expect(toHex(oqs.decapsulate(a.ciphertext, mine.secretKey))).toBe(toHex(a.sharedSecret));
        const b = oqs.encapsulate(theirs.publicKey);
        expect(toHex(ours.decapsulate(b.ciphertext, theirs.secretKey))).toBe(toHex(b.sharedSecret));
        // FIPS 203's rejection secret is J(z || c): the same on both sides for the same key and ciphertext.
        const tampered = withBitFlipped(a.ciphertext, bitFor(a.ciphertext, i));
        const rejected = ours.decapsulate(tampered, mine.secretKey);
        expect(toHex(rejected)).not.toBe(toHex(a.sharedSecret));
        expect(toHex(oqs.decapsulate(tampered, mine.secretKey))).toBe(toHex(rejected));
      }
    }));
});

describe.each(SIGNERS)('$ours.name and liboqs-js', ({ ours, create }) => {
  const message = (i: number): Uint8Array => labelBytes(`liboqs-js ${ours.name} ${i}`, 1 + i * 97);

  it('liboqs verifies our signatures (plain and expanded key); a flipped bit fails', () =>
    withOqs(create, (oqs) => {
      const { publicKey, secretKey } = ours.keygen();
      const expanded = ours.expand(secretKey);
      try {
        for (let i = 0; i < ROUNDS; i++) {
          const m = message(i);
          for (const sig of [ours.sign(m, secretKey), expanded.sign(m)]) {
            if (ours.padded) expect(sig.length).toBe(ours.lengths.signature);
            expect(oqs.verify(m, sig, publicKey)).toBe(true);
            expect(oqs.verify(m, withBitFlipped(sig, bitFor(sig, i)), publicKey)).toBe(false);
            expect(oqs.verify(withBitFlipped(m, bitFor(m, i)), sig, publicKey)).toBe(false);
          }
        }
      } finally {
        expanded.destroy();
      }
    }));

  it('we verify liboqs signatures (plain and prepared key); a flipped bit fails', () =>
    withOqs(create, (oqs) => {
      const { publicKey, secretKey } = oqs.generateKeyPair();
      const verifier = ours.verifier(publicKey);
      try {
        for (let i = 0; i < ROUNDS; i++) {
          const m = message(i);
          const sig = oqs.sign(m, secretKey);
          const badSig = withBitFlipped(sig, bitFor(sig, i));
          const badMsg = withBitFlipped(m, bitFor(m, i));
          expect(ours.verify(sig, m, publicKey)).toBe(true);
          expect(verifier.verify(sig, m)).toBe(true);
          expect(ours.verify(badSig, m, publicKey)).toBe(false);
          expect(verifier.verify(badSig, m)).toBe(false);
          expect(ours.verify(sig, badMsg, publicKey)).toBe(false);
          expect(verifier.verify(sig, badMsg)).toBe(false);
        }
      } finally {
        verifier.free();
      }
    }));

  it('secret keys carry over: each side signs with the other side\'s key', () =>
    withOqs(create, (oqs) => {
      const mine = ours.keygen();
      const theirs = oqs.generateKeyPair();
      const expanded = ours.expand(theirs.secretKey);
      try {
        for (let i = 0; i < ROUNDS; i++) {
          const m = message(i);
          expect(oqs.verify(m, expanded.sign(m), theirs.publicKey)).toBe(true);
          expect(ours.verify(oqs.sign(m, mine.secretKey), m, mine.publicKey)).toBe(true);
          // The wrong public key: a signature must not verify under the other key pair.
          expect(ours.verify(oqs.sign(m, mine.secretKey), m, theirs.publicKey)).toBe(false);
        }
      } finally {
        expanded.destroy();
      }
    }));
});
