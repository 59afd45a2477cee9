// Interoperability with an independent implementation: @noble/post-quantum 0.7.1
// (pure TypeScript, written from the specifications, not from PQClean).
// Every parameter set, both directions: keys from the same seed are identical,
// derandomised outputs are identical byte for byte, what one side produces the
// other side opens or verifies, and what is tampered with both sides reject.
//
// noble's Falcon keygen takes 0.2-0.8 s here, so each Falcon set uses two
// seeded key pairs (made once) and a handful of messages.

import fc from 'fast-check';
import { falcon512 as nFalcon512, falcon1024 as nFalcon1024, falcon512padded, falcon1024padded } from '@noble/post-quantum/falcon.js';
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { beforeAll, describe, expect, it } from 'vitest';
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
  type SignKeyPair,
  type Signer,
} from '../../bindings/index.js';
import { coreInitOptions, coreLabel } from '../support/core-module.js';
import { labelBytes, nobleSignWithSeed, toHex, withBitFlipped } from '../vectors/format.js';

type NobleKem = typeof ml_kem768;
type NobleSigner = typeof nFalcon512;

beforeAll(async () => {
  await init(coreInitOptions());
});

const KEMS: readonly { kem: Kem; noble: NobleKem }[] = [
  { kem: mlKem512, noble: ml_kem512 },
  { kem: mlKem768, noble: ml_kem768 },
  { kem: mlKem1024, noble: ml_kem1024 },
];

const SIGNERS: readonly { signer: Signer; noble: NobleSigner }[] = [
  { signer: falcon512, noble: nFalcon512 },
  { signer: falcon1024, noble: nFalcon1024 },
  { signer: falconPadded512, noble: falcon512padded },
  { signer: falconPadded1024, noble: falcon1024padded },
];

describe.each(KEMS)(`$kem.name (${coreLabel}) and noble`, ({ kem, noble }) => {
  const L = kem.lengths;
  const seed = (i: number, what: string, length: number): Uint8Array => labelBytes(`cross-check ${kem.name} ${i} ${what}`, length);

  it('derive identical keys from the same d || z', () => {
    for (let i = 0; i < 3; i++) {
      const s = seed(i, 'keygen', L.keygenSeed);
      const ours = kem.keygen(s);
      const theirs = noble.keygen(s);
      expect(toHex(ours.publicKey)).toBe(toHex(theirs.publicKey));
      expect(toHex(ours.secretKey)).toBe(toHex(theirs.secretKey));
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: L.keygenSeed, maxLength: L.keygenSeed }), (s) => {
        expect(toHex(kem.keygen(s).publicKey)).toBe(toHex(noble.keygen(s).publicKey));
      }),
      { numRuns: 16 },
    );
  });

  it('encapsulate identically from the same m', () => {
    const { publicKey } = kem.keygen(seed(0, 'keygen', L.keygenSeed));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: L.encapsSeed, maxLength: L.encapsSeed }), (m) => {
        const ours = kem.encapsulate(publicKey, m);
        const theirs = noble.encapsulate(publicKey, m);
        expect(toHex(ours.ciphertext)).toBe(toHex(theirs.cipherText));
        expect(toHex(ours.sharedSecret)).toBe(toHex(theirs.sharedSecret));
      }),
      { numRuns: 16 },
    );
  });

  it('our encapsulation opens with noble decapsulation', () => {
    for (let i = 0; i < 3; i++) {
      const { publicKey, secretKey } = kem.keygen();
      const { ciphertext, sharedSecret } = kem.encapsulate(publicKey);
      expect(toHex(noble.decapsulate(ciphertext, secretKey))).toBe(toHex(sharedSecret));
    }
  });

  it('noble encapsulation opens with our decapsulation (to our keys and to noble keys)', () => {
    for (let i = 0; i < 3; i++) {
      const ours = kem.keygen();
      const toOurs = noble.encapsulate(ours.publicKey);
      expect(toHex(kem.decapsulate(toOurs.cipherText, ours.secretKey))).toBe(toHex(toOurs.sharedSecret));
      const theirs = noble.keygen();
      const toTheirs = noble.encapsulate(theirs.publicKey);
      expect(toHex(kem.decapsulate(toTheirs.cipherText, theirs.secretKey))).toBe(toHex(toTheirs.sharedSecret));
      const fromOurs = kem.encapsulate(theirs.publicKey);
      expect(toHex(noble.decapsulate(fromOurs.ciphertext, theirs.secretKey))).toBe(toHex(fromOurs.sharedSecret));
    }
  });

  it('reject a tampered ciphertext with the same implicit-rejection secret', () => {
    const { publicKey, secretKey } = kem.keygen(seed(1, 'keygen', L.keygenSeed));
    const { ciphertext, sharedSecret } = kem.encapsulate(publicKey, seed(1, 'encaps', L.encapsSeed));
    for (const bit of [0, 7, 8 * 100 + 1, 8 * L.ciphertext - 1]) {
      const bad = withBitFlipped(ciphertext, bit);
      const ours = kem.decapsulate(bad, secretKey);
      expect(toHex(ours)).not.toBe(toHex(sharedSecret));
      expect(toHex(noble.decapsulate(bad, secretKey))).toBe(toHex(ours));
    }
  });
});

describe.each(SIGNERS)(`$signer.name (${coreLabel}) and noble`, ({ signer, noble }) => {
  const L = signer.lengths;
  const bytes = (what: string, length: number): Uint8Array => labelBytes(`cross-check ${signer.name} ${what}`, length);
  const messages = [new Uint8Array(0), bytes('message 1', 1), bytes('message 33', 33), bytes('message 1000', 1000)];
  const keySeeds = [bytes('keygen 0', L.keygenSeed), bytes('keygen 1', L.keygenSeed)];
  let ours: SignKeyPair[] = [];
  let theirs: SignKeyPair[] = [];

  beforeAll(() => {
    ours = keySeeds.map((s) => signer.keygen(s));
    theirs = keySeeds.map((s) => noble.keygen(s));
  });

  it('derive identical keys from the same 48-byte seed', () => {
    for (let k = 0; k < keySeeds.length; k++) {
      expect(toHex(ours[k]!.publicKey)).toBe(toHex(theirs[k]!.publicKey));
      expect(toHex(ours[k]!.secretKey)).toBe(toHex(theirs[k]!.secretKey));
    }
  });

  it('sign identically from the same 88 bytes (nonce, then sampler seed), and verify each other', () => {
    const jobs = [...messages.map((m, i) => ({ k: 0, m, i })), { k: 1, m: messages[2]!, i: 9 }];
    for (const { k, m, i } of jobs) {
      const signSeed = bytes(`sign ${k} ${i}`, L.signSeed);
      const mine = signer.sign(m, ours[k]!.secretKey, signSeed);
      const nobles = nobleSignWithSeed(noble, m, theirs[k]!.secretKey, signSeed);
      expect(toHex(mine)).toBe(toHex(nobles));
      if (signer.padded) expect(mine.length).toBe(L.signature);
      expect(noble.verify(mine, m, theirs[k]!.publicKey)).toBe(true);
      expect(signer.verify(nobles, m, ours[k]!.publicKey)).toBe(true);
    }
  });

  it('our randomised signatures, also under a fresh random key, verify under noble', () => {
    for (const m of messages.slice(1)) {
      expect(noble.verify(signer.sign(m, ours[0]!.secretKey), m, ours[0]!.publicKey)).toBe(true);
    }
    const fresh = signer.keygen();
    const m = messages[2]!;
    expect(noble.verify(signer.sign(m, fresh.secretKey), m, fresh.publicKey)).toBe(true);
  });

  it('noble randomised signatures verify under ours', () => {
    for (const m of messages.slice(1)) {
      expect(signer.verify(noble.sign(m, theirs[1]!.secretKey), m, theirs[1]!.publicKey)).toBe(true);
    }
  });

  it('both reject tampered signatures, other messages and other keys', () => {
    const m = messages[2]!;
    const sig = signer.sign(m, ours[0]!.secretKey, bytes('tamper', L.signSeed));
    const s2Bits = 8 * (1 + 40);
    const bad: [string, Uint8Array][] = [
      ['header byte', Uint8Array.from(sig, (b, i) => (i === 0 ? b ^ 0x10 : b))],
      ['nonce bit', withBitFlipped(sig, 8 * 5 + 3)],
      ['first s2 bit', withBitFlipped(sig, s2Bits)],
      ['middle s2 bit', withBitFlipped(sig, s2Bits + 8 * 200 + 4)],
      ['truncated', sig.subarray(0, sig.length - 1)],
      ['nonce and header only', sig.subarray(0, 41)],
    ];
    if (signer.padded) {
      // The padding must be zero: a signature of the exact length with a non-zero tail is invalid.
      expect(sig[sig.length - 1]).toBe(0);
      bad.push(['non-zero padding', Uint8Array.from(sig, (b, i) => (i === sig.length - 1 ? 1 : b))]);
    } else {
      bad.push(['last s2 bit', withBitFlipped(sig, 8 * sig.length - 1)]);
    }
    for (const [what, s] of bad) {
      expect([what, noble.verify(s, m, ours[0]!.publicKey)]).toEqual([what, false]);
      expect([what, signer.verify(s, m, ours[0]!.publicKey)]).toEqual([what, false]);
    }
    const otherMessage = withBitFlipped(m, 0);
    expect(noble.verify(sig, otherMessage, ours[0]!.publicKey)).toBe(false);
    expect(signer.verify(sig, otherMessage, ours[0]!.publicKey)).toBe(false);
    expect(noble.verify(sig, m, ours[1]!.publicKey)).toBe(false);
    expect(signer.verify(sig, m, ours[1]!.publicKey)).toBe(false);
    // The untouched signature still verifies on both sides: the rejections above are the tampering.
    expect(noble.verify(sig, m, ours[0]!.publicKey)).toBe(true);
    expect(signer.verify(sig, m, ours[0]!.publicKey)).toBe(true);
  });
});
