// A small operator fleet for client tests: one CA, members with certificates
// granting the rights each test needs, and client options for any broker URL.
import { init } from '../../bindings/index.js';
import { CertificateAuthority, issueCertificate, type Certificate } from '../../src/certs/certificate.js';
import { issueRevocationList, encodeRevocationList, type RevocationEntry } from '../../src/certs/revocation.js';
import type { SecureClientOptions } from '../../src/client/options.js';
import { generateIdentity, type Identity } from '../../src/identity/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { Storage } from '../../src/storage/types.js';

const DAY = 86_400_000;

export interface Member {
  readonly identity: Identity;
  readonly certificate: Certificate;
  /** Client options for this member; storage is per member and kept across restarts. */
  options(extra?: Partial<SecureClientOptions>): SecureClientOptions;
  readonly storage: Storage;
}

export interface Fleet {
  readonly ca: CertificateAuthority;
  member(id: string, rights: { publish?: string[]; subscribe?: string[] }, serial?: number): Promise<Member>;
  /** A signed revocation list (number must grow). */
  revocationList(number: number, entries: RevocationEntry[]): Uint8Array;
}

export async function makeFleet(): Promise<Fleet> {
  await init();
  const ca = CertificateAuthority.generate('operator-ca');
  return {
    ca,
    async member(id, rights, serial = 1) {
      const identity = await generateIdentity(id);
      const now = Date.now();
      const certificate = issueCertificate(ca, {
        subject: id,
        serial,
        notBefore: now - DAY,
        notAfter: now + 365 * DAY,
        keyEpoch: 1,
        publicKeys: identity.publicKeys,
        publish: rights.publish ?? [],
        subscribe: rights.subscribe ?? [],
      });
      const storage = new MemoryStorage();
      return {
        identity,
        certificate,
        storage,
        options: (extra = {}) => ({ identity, certificate, trustAnchor: ca.trustAnchor, storage, ...extra }),
      };
    },
    revocationList(number, entries) {
      return encodeRevocationList(issueRevocationList(ca, { number, issuedAt: Date.now(), entries }));
    },
  };
}

/** Resolves when `predicate()` holds, polling; rejects with `what` after `ms`. */
export async function until(predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);
