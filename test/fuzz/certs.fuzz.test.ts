// Fuzzing every decoder of the identity and certificate formats: random bytes,
// valid prefixes with random tails, and random mutations of valid encodings.
// Only a SecurityError with a known reason code may ever be thrown, and any
// input a decoder accepts must re-encode to exactly the same bytes (one
// encoding per value). FUZZ_RUNS sets the runs per decoder (default 10,000).
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { init } from '../../bindings/index.js';
import { REASONS, SecurityError } from '../../src/errors.js';
import { decodeAnnouncement, createAnnouncement, verifyAnnouncement } from '../../src/certs/announce.js';
import {
  CertificateAuthority,
  decodeCertificate,
  decodeTrustAnchor,
  encodeCertificate,
  encodeTrustAnchor,
  issueCertificate,
  verifyCertificate,
} from '../../src/certs/certificate.js';
import { decodeRevocationList, encodeRevocationList, issueRevocationList, verifyRevocationList } from '../../src/certs/revocation.js';
import { TrustStore } from '../../src/certs/trust-store.js';
import { exportIdentity, generateIdentity, importIdentity } from '../../src/identity/index.js';
import { concat, seq } from '../support/helpers.js';

const RUNS = Math.max(1, Number.parseInt(process.env.FUZZ_RUNS ?? '', 10) || 10_000);
const NOW = Date.UTC(2025, 6, 1);

/** Runs `fn`; a SecurityError with a known code is fine, anything else fails the property. */
function onlySecurityErrors<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SecurityError && err.code in REASONS) return undefined;
    throw err;
  }
}

async function onlySecurityErrorsAsync<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof SecurityError && err.code in REASONS) return undefined;
    throw err;
  }
}

/** Fails unless `actual` equals `expected` byte for byte (vitest's toEqual is slow on large typed arrays). */
function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.length !== expected.length || actual.some((b, i) => b !== expected[i])) {
    expect.fail(`${what}: re-encoding differs from the accepted input (not canonical)`);
  }
}

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'u16'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; count: number }
  | { op: 'truncate'; at: number }
  | { op: 'duplicate'; at: number; count: number };

const position = fc.nat({ max: 1 << 20 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), at: position, value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x2f, 0x23) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('u16' as const), at: position, value: fc.oneof(fc.nat({ max: 0xffff }), fc.constantFrom(0, 1, 0xffff)) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), at: position, count: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: position }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate' as const), at: position, count: fc.integer({ min: 1, max: 16 }) }) },
);


/**
 * `length` pseudo-random bytes from `seed` (xorshift32): fast-check draws the
 * seed and length, so runs stay reproducible, without drawing each byte.
 */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b: Uint8Array = input.slice();
  for (const m of mutations) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.op) {
      case 'flip':
        b[at]! ^= 1 << m.bit;
        break;
      case 'set':
        b[at] = m.value;
        break;
      case 'u16':
        b[at] = m.value >> 8;
        if (at + 1 < b.length) b[at + 1] = m.value & 0xff;
        break;
      case 'insert':
        b = concat(b.subarray(0, at), m.bytes, b.subarray(at));
        break;
      case 'delete':
        b = concat(b.subarray(0, at), b.subarray(at + m.count));
        break;
      case 'truncate':
        b = b.slice(0, at);
        break;
      case 'duplicate':
        b = concat(b.subarray(0, at + m.count), b.subarray(at));
        break;
    }
  }
  return b;
}

/** Inputs for one decoder: random bytes, a valid prefix with a random tail, mutated valid encodings. */
function inputs(valid: readonly Uint8Array[], maxRandom: number): fc.Arbitrary<Uint8Array> {
  const base = fc.constantFrom(...valid);
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: fc.tuple(fc.nat({ max: maxRandom }), fc.integer()).map(([n, seed]) => noise(n, seed)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(base, fc.nat(), fc.nat({ max: 64 }), fc.integer())
        .map(([v, cut, n, seed]) => concat(v.subarray(0, cut % (v.length + 1)), noise(n, seed))),
    },
    { weight: 6, arbitrary: fc.tuple(base, fc.array(mutation, { minLength: 1, maxLength: 6 })).map(([v, ms]) => mutate(v, ms)) },
  );
}

let certificates: Uint8Array[];
let anchors: Uint8Array[];
let lists: Uint8Array[];
let announcements: Uint8Array[];
let identityExport: Uint8Array;
let store: TrustStore;
let ca: CertificateAuthority;

beforeAll(async () => {
  await init();
  ca = CertificateAuthority.generate('fuzz-ca', { seed: seq(32, 1) });
  const big = CertificateAuthority.generate('fuzz-ca-1024', { suite: 'falcon1024', seed: seq(32, 2) });
  const device = await generateIdentity('dev-ü', { seed: seq(32, 3) });
  const fields = {
    subject: device.id,
    serial: 9,
    notBefore: NOW - 1000,
    notAfter: NOW + 1000,
    keyEpoch: 4,
    publicKeys: device.publicKeys,
    publish: ['a/+/b', 'c/#', '$x/y'],
    subscribe: ['d', '+/+', '#'],
    flags: 5,
  };
  const c1 = issueCertificate(ca, fields);
  const c2 = issueCertificate(big, { ...fields, publish: [], subscribe: [] });
  certificates = [c1.bytes, c2.bytes];
  anchors = [encodeTrustAnchor(ca.trustAnchor), encodeTrustAnchor(big.trustAnchor)];
  lists = [
    issueRevocationList(ca, {
      number: 3,
      issuedAt: NOW,
      entries: [
        { kind: 'serial', subject: 'a', serial: 1 },
        { kind: 'below-epoch', subject: 'bé', epoch: 7 },
        { kind: 'subject', subject: 'c' },
      ],
    }).bytes,
    issueRevocationList(big, { number: 0, issuedAt: 0, entries: [] }).bytes,
  ];
  announcements = [createAnnouncement(device, c1, { timestamp: NOW })];
  identityExport = await exportIdentity(device);
  store = await TrustStore.open(ca.trustAnchor);
});

describe(`fuzzing the certificate formats (${RUNS} runs per decoder)`, () => {
  it('decodeCertificate / verifyCertificate', () => {
    fc.assert(
      fc.property(inputs(certificates, 3000), (bytes) => {
        const cert = onlySecurityErrors(() => decodeCertificate(bytes));
        if (cert) {
          sameBytes(encodeCertificate(cert), bytes, 'certificate');
          onlySecurityErrors(() => verifyCertificate(bytes, ca.trustAnchor, { now: NOW }));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('decodeTrustAnchor', () => {
    fc.assert(
      fc.property(inputs(anchors, 2000), (bytes) => {
        const anchor = onlySecurityErrors(() => decodeTrustAnchor(bytes));
        if (anchor) sameBytes(encodeTrustAnchor(anchor), bytes, 'trust anchor');
      }),
      { numRuns: RUNS },
    );
  });

  it('decodeRevocationList / verifyRevocationList', () => {
    fc.assert(
      fc.property(inputs(lists, 2000), (bytes) => {
        const list = onlySecurityErrors(() => decodeRevocationList(bytes));
        if (list) {
          sameBytes(encodeRevocationList(list), bytes, 'revocation list');
          onlySecurityErrors(() => verifyRevocationList(bytes, ca.trustAnchor));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('decodeAnnouncement / verifyAnnouncement', () => {
    fc.assert(
      fc.property(inputs(announcements, 3000), (bytes) => {
        const a = onlySecurityErrors(() => decodeAnnouncement(bytes));
        if (a) {
          sameBytes(encodeCertificate(a.certificate), a.certificate.bytes, 'announced certificate');
          onlySecurityErrors(() => verifyAnnouncement(bytes, store, { now: NOW }));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('TrustStore.addCertificate and applyRevocationList never change state on rejected input (a tenth of the runs)', async () => {
    const runs = Math.max(1, Math.ceil(RUNS / 10));
    await fc.assert(
      fc.asyncProperty(inputs([...certificates, ...lists], 2000), async (bytes) => {
        const s = await TrustStore.open(ca.trustAnchor);
        const added = await onlySecurityErrorsAsync(() => s.addCertificate(bytes, NOW));
        if (!added) expect(s.subjects()).toEqual([]);
        const applied = await onlySecurityErrorsAsync(() => s.applyRevocationList(bytes));
        if (!applied) expect(s.revocationListNumber).toBeUndefined();
      }),
      { numRuns: runs },
    );
  });

  it('importIdentity', async () => {
    await fc.assert(
      fc.asyncProperty(inputs([identityExport], 6000), async (bytes) => {
        const identity = await onlySecurityErrorsAsync(() => importIdentity(bytes));
        if (identity) sameBytes(await exportIdentity(identity), bytes, 'identity');
      }),
      { numRuns: RUNS },
    );
  });
});
