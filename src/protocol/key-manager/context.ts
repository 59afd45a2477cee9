// What the KeyManager's roles share, passed to each explicitly: the identity
// and its current certificate, trust, storage, replay, clock, randomness, the
// checked settings, the direct sequence numbers (grants and direct envelopes
// share them), whether the manager is closed, and the two events. A role reads
// and changes shared state only through this object, never another role's
// privates.

import type { Certificate } from '../../certs/certificate.js';
import type { Clock } from '../../clock.js';
import type { RandomSource } from '../../crypto/random.js';
import { ConfigError, SecurityError } from '../../errors.js';
import type { Identity } from '../../identity/identity.js';
import type { SequenceAllocator } from '../../storage/sequence.js';
import type { Storage } from '../../storage/types.js';
import type { CertificateSource } from '../envelope.js';
import { equalBytes } from '../../wire/bytes.js';
import type { AsyncSigner } from '../group.js';
import type { KeyManagerReplay, KeyManagerSettings } from './options.js';
import type { KeyNeededEvent, RotationEvent } from './types.js';

export interface KeyManagerContext {
  readonly identity: Identity;
  /** Our own certificate: replaced on renewal (setCertificate), so read it at each use. */
  cert: Certificate;
  readonly trust: CertificateSource;
  readonly storage: Storage;
  readonly replay: KeyManagerReplay;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** Spread into every seal: `{ random }` for known-answer tests, else empty. */
  readonly det: { readonly random?: RandomSource };
  /** The async signer, never with known-answer randomness. */
  readonly signer: AsyncSigner | undefined;
  /** Storage key prefix of this identity (ends in '/'). */
  readonly prefix: string;
  readonly grantTopic: (subscriber: string) => string;
  readonly o: KeyManagerSettings;
  /** Direct-envelope sequence numbers, shared by grants and sealDirect. */
  readonly direct: SequenceAllocator;
  closed: boolean;
  readonly emitRotated: (event: RotationEvent) => void;
  readonly emitKeyNeeded: (event: KeyNeededEvent) => void;
}

/** @throws ConfigError CLOSED once the key manager is closed. */
export function assertOpen(ctx: KeyManagerContext): void {
  if (ctx.closed) throw new ConfigError('CLOSED', 'the key manager is closed');
}

/**
 * Refuses work that trusts the revocation list while it may be out of date (docs/PROTOCOL.md, "Next update"):
 * opening data and granting epoch keys. @throws SecurityError STALE_REVOCATION.
 */
export function assertRevocationFresh(ctx: KeyManagerContext, now: number): void {
  if (ctx.o.acceptStaleRevocation) return;
  if (revocationFresh(ctx, now)) return;
  throw new SecurityError('STALE_REVOCATION', {
    detail: `the newest revocation list ${ctx.trust.revocationStatus?.(now, ctx.o.revocationGraceMs) === 'none' ? 'is missing' : 'is past its next update'} (grace ${ctx.o.revocationGraceMs} ms): nothing is accepted or granted until the CA's next list arrives`,
  });
}

/** True unless the list is stale (or missing where one is required) and that is not accepted. */
export function revocationFresh(ctx: KeyManagerContext, now: number): boolean {
  if (ctx.o.acceptStaleRevocation) return true;
  const status = ctx.trust.revocationStatus?.(now, ctx.o.revocationGraceMs) ?? 'none';
  return status === 'fresh' || (status === 'none' && !ctx.o.requireRevocationList);
}

/** @throws RangeError if `cert` is not a certificate of `identity`'s keys. */
export function assertOwnCertificate(identity: Identity, cert: Certificate): void {
  if (cert.subject !== identity.id || !equalBytes(cert.publicKeys.falcon, identity.publicKeys.falcon)) {
    throw new RangeError(`certificate is not the certificate of identity ${identity.id}`);
  }
}
