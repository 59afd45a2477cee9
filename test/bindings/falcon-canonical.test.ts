// One encoding per Falcon signature (security review finding 8, issue 19).
//
// PQClean's do_verify accepts a compact signature followed by zero bytes up to the padded length (666 bytes for
// Falcon-512, 1,280 for Falcon-1024), and the padded sets accept the bare compact form of any length: every
// signature had a second valid encoding. The core accepts a compact signature only if the compressed s2 fills it
// exactly (no trailing byte, zero or not), and a padded one only at its fixed length with a zero tail, as
// @noble/post-quantum does. Both entry points are checked: verify() and the prepared verifier().
import { falcon512 as nFalcon512, falcon1024 as nFalcon1024, falcon512padded, falcon1024padded } from '@noble/post-quantum/falcon.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { falcon512, falcon1024, falconPadded512, falconPadded1024, init, type SignKeyPair, type Signer } from '../../bindings/index.js';
import { coreInitOptions, coreLabel } from '../support/core-module.js';
import { labelBytes } from '../vectors/format.js';

beforeAll(async () => {
  await init(coreInitOptions());
});

type NobleSigner = typeof nFalcon512;

/** Each compact set with its padded twin (same keys, same internals, same header byte) and their noble counterparts. */
const SETS: readonly { compact: Signer; padded: Signer; noble: NobleSigner; noblePadded: NobleSigner }[] = [
  { compact: falcon512, padded: falconPadded512, noble: nFalcon512, noblePadded: falcon512padded },
  { compact: falcon1024, padded: falconPadded1024, noble: nFalcon1024, noblePadded: falcon1024padded },
];

/** `bytes` followed by zeros up to `length`. */
function zeroPadded(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(bytes);
  return out;
}

/** A padded signature without its zero tail: the compact encoding of the same signature. */
function stripped(sig: Uint8Array): Uint8Array {
  let end = sig.length;
  while (end > 0 && sig[end - 1] === 0) end--;
  return sig.subarray(0, end);
}

describe.each(SETS)(`$compact.name / $padded.name (${coreLabel}): one encoding per signature`, ({ compact, padded, noble, noblePadded }) => {
  const paddedLength = padded.lengths.signature;
  const bytes = (what: string, length: number): Uint8Array => labelBytes(`canonical ${compact.name} ${what}`, length);
  const messages = [new Uint8Array(0), bytes('m1', 1), bytes('m64', 64), bytes('m1000', 1000)];
  let keys: SignKeyPair;
  let verifier: ReturnType<Signer['verifier']>;
  let paddedVerifier: ReturnType<Signer['verifier']>;

  beforeAll(() => {
    keys = compact.keygen(bytes('keygen', compact.lengths.keygenSeed));
    verifier = compact.verifier(keys.publicKey);
    paddedVerifier = padded.verifier(keys.publicKey);
    return () => {
      verifier.free();
      paddedVerifier.free();
    };
  });

  /** What our two entry points of `signer` and noble's say about `sig`; all three must agree. */
  function verdicts(signer: Signer, n: NobleSigner, sig: Uint8Array, m: Uint8Array): { verify: boolean; prepared: boolean; noble: boolean } {
    const prepared = signer === compact ? verifier : paddedVerifier;
    return { verify: signer.verify(sig, m, keys.publicKey), prepared: prepared.verify(sig, m), noble: n.verify(sig, m, keys.publicKey) };
  }
  const accepted = { verify: true, prepared: true, noble: true };
  const refused = { verify: false, prepared: false, noble: false };

  it(`refuses a valid compact signature zero-padded to ${paddedLength} bytes (verify and the prepared verifier)`, () => {
    for (const [i, m] of messages.entries()) {
      const sig = compact.sign(m, keys.secretKey, bytes(`sign ${i}`, compact.lengths.signSeed));
      expect(sig.length).toBeLessThan(paddedLength);
      expect(verdicts(compact, noble, sig, m)).toEqual(accepted);
      const padCopy = zeroPadded(sig, paddedLength);
      expect({ length: padCopy.length, ...verdicts(compact, noble, padCopy, m) }).toEqual({ length: paddedLength, ...refused });
    }
  });

  it('refuses a compact signature with any trailing byte, zero or not, up to the longest length', () => {
    const m = messages[2]!;
    const sig = compact.sign(m, keys.secretKey, bytes('trailing', compact.lengths.signSeed));
    for (let length = sig.length + 1; length <= compact.lengths.signature; length++) {
      expect({ length, ...verdicts(compact, noble, zeroPadded(sig, length), m) }).toEqual({ length, ...refused });
    }
    for (const tail of [1, 0x80, 0xff]) {
      const withTail = zeroPadded(sig, sig.length + 1);
      withTail[sig.length] = tail;
      expect({ tail, ...verdicts(compact, noble, withTail, m) }).toEqual({ tail, ...refused });
    }
    // A byte too long for the set is refused before it reaches the core.
    expect(compact.verify(zeroPadded(sig, compact.lengths.signature + 1), m, keys.publicKey)).toBe(false);
  });

  it(`accepts a padded signature only at ${paddedLength} bytes: not stripped of its zero tail, not extended`, () => {
    for (const [i, m] of messages.entries()) {
      const sig = padded.sign(m, keys.secretKey, bytes(`padded ${i}`, padded.lengths.signSeed));
      expect(sig.length).toBe(paddedLength);
      expect(verdicts(padded, noblePadded, sig, m)).toEqual(accepted);
      const bare = stripped(sig);
      expect(bare.length).toBeLessThan(paddedLength); // these seeds give a zero tail
      expect({ length: bare.length, ...verdicts(padded, noblePadded, bare, m) }).toEqual({ length: bare.length, ...refused });
      const short = sig.subarray(0, paddedLength - 1);
      expect(verdicts(padded, noblePadded, short, m)).toEqual(refused);
      expect(padded.verify(zeroPadded(sig, paddedLength + 1), m, keys.publicKey)).toBe(false);
      // The compact set takes the bare form (it is the compact encoding) but not the padded one.
      expect(verdicts(compact, noble, bare, m)).toEqual(accepted);
      expect(verdicts(compact, noble, sig, m)).toEqual(refused);
    }
  });

  it('accepts every valid signature in its own form: ours and noble randomised ones, both sets', () => {
    for (const m of messages.slice(1)) {
      const ours = compact.sign(m, keys.secretKey);
      const theirs = noble.sign(m, keys.secretKey);
      expect(verdicts(compact, noble, ours, m)).toEqual(accepted);
      expect(verdicts(compact, noble, theirs, m)).toEqual(accepted);
      const oursPadded = padded.sign(m, keys.secretKey);
      const theirsPadded = noblePadded.sign(m, keys.secretKey);
      expect(verdicts(padded, noblePadded, oursPadded, m)).toEqual(accepted);
      expect(verdicts(padded, noblePadded, theirsPadded, m)).toEqual(accepted);
    }
  });
});
