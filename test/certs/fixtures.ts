// Shared keys and helpers for the certificate tests. Keys come from fixed seeds
// (reproducible failures) and are made once per test file.
import { expect } from 'vitest';
import { init } from '../../bindings/index.js';
import { SecurityError, type ReasonCode } from '../../src/errors.js';
import { CertificateAuthority, type CertificateFields } from '../../src/certs/certificate.js';
import { generateIdentity, type Identity } from '../../src/identity/index.js';
import { seq } from '../support/helpers.js';

export const T0 = Date.UTC(2025, 0, 1);
export const DAY = 86_400_000;

export interface Fixture {
  readonly ca: CertificateAuthority;
  readonly plc: Identity;
  readonly hmi: Identity;
  /** Fields for a certificate of `identity`, valid T0..T0+365 days, epoch 1, serial 1. */
  fields(identity: Identity, overrides?: Partial<CertificateFields>): CertificateFields;
}

let cached: Promise<Fixture> | undefined;

export function fixture(): Promise<Fixture> {
  cached ??= (async () => {
    await init();
    const ca = CertificateAuthority.generate('root-ca', { seed: seq(32, 100) });
    const plc = await generateIdentity('plc-7', { seed: seq(32, 1) });
    const hmi = await generateIdentity('hmi-1', { seed: seq(32, 2) });
    return {
      ca,
      plc,
      hmi,
      fields: (identity, overrides = {}) => ({
        subject: identity.id,
        serial: 1,
        notBefore: T0,
        notAfter: T0 + 365 * DAY,
        keyEpoch: 1,
        publicKeys: identity.publicKeys,
        publish: [`plant/line1/${identity.id}/#`, 'plant/alarms'],
        subscribe: [`plant/commands/${identity.id}`, 'plant/+/status'],
        flags: 0x04,
        ...overrides,
      }),
    };
  })();
  return cached;
}

/** The SecurityError code `fn` throws, 'none' if it returns; anything else is rethrown (a test failure). */
export function codeOf(fn: () => unknown): ReasonCode | 'none' {
  try {
    fn();
  } catch (err) {
    if (err instanceof SecurityError) return err.code;
    throw err;
  }
  return 'none';
}

export async function asyncCodeOf(fn: () => Promise<unknown>): Promise<ReasonCode | 'none'> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof SecurityError) return err.code;
    throw err;
  }
  return 'none';
}

/** A byte region of an encoding and the codes a corruption inside it may give. */
export interface Region {
  readonly name: string;
  readonly start: number;
  readonly end: number; // exclusive
  readonly codes: readonly (ReasonCode | 'none')[];
}

/**
 * Flips every bit of `bytes` and checks `check` rejects each flip with a code
 * from its region's set. Returns the codes seen per region (to show coverage).
 */
export function everyBitFlip(bytes: Uint8Array, regions: readonly Region[], check: (b: Uint8Array) => unknown): Map<string, Set<string>> {
  // The regions must tile the encoding exactly.
  let at = 0;
  for (const r of regions) {
    expect(r.start, `region ${r.name} starts where the previous ended`).toBe(at);
    at = r.end;
  }
  expect(at, 'regions cover the whole encoding').toBe(bytes.length);
  const seen = new Map<string, Set<string>>();
  const copy = bytes.slice();
  for (const region of regions) {
    const codes = new Set<string>();
    seen.set(region.name, codes);
    for (let byte = region.start; byte < region.end; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        copy[byte]! ^= 1 << bit;
        const code = codeOf(() => check(copy));
        copy[byte]! ^= 1 << bit;
        codes.add(code);
        if (!region.codes.includes(code)) {
          expect.fail(`bit ${bit} of byte ${byte} (${region.name}) gave ${code}, expected one of ${region.codes.join(', ')}`);
        }
      }
    }
  }
  expect(copy).toEqual(bytes);
  return seen;
}

/** Regions of a string16 field starting at `start` (length prefix, then text). */
export function stringRegions(name: string, bytes: Uint8Array, start: number, textCodes: readonly ReasonCode[]): Region[] {
  const length = (bytes[start]! << 8) | bytes[start + 1]!;
  return [
    { name: `${name} length`, start, end: start + 2, codes: ['MALFORMED'] },
    { name, start: start + 2, end: start + 2 + length, codes: textCodes },
  ];
}
