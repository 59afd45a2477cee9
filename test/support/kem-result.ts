// What an ML-KEM-768 round trip run elsewhere (a page, a worker, a child process) must show, as hex strings:
// the browser smoke test and the packed-tarball test judge their reports with the same assertions.
import { expect } from 'vitest';

const HEX64 = /^[0-9a-f]{64}$/;

export interface KemRoundTrip {
  readonly publicKeyLength: number;
  readonly ciphertextLength: number;
  readonly sharedSecret: string;
  readonly decapsulated: string;
  readonly tampered: string;
}

export function expectKemRoundTrip(kem: KemRoundTrip): void {
  expect(kem.publicKeyLength).toBe(1184);
  expect(kem.ciphertextLength).toBe(1088);
  expect(kem.sharedSecret).toMatch(HEX64);
  expect(kem.sharedSecret).not.toBe('0'.repeat(64));
  expect(kem.decapsulated).toBe(kem.sharedSecret);
  // Implicit rejection: a tampered ciphertext decapsulates to some other secret, without an error.
  expect(kem.tampered).toMatch(HEX64);
  expect(kem.tampered).not.toBe(kem.sharedSecret);
}
