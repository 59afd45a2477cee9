// What connect() prepares before it opens the MQTT connection: the trust
// store (our own certificate checked under the trust anchor first), the
// optional signing workers, and the key manager configured from the client's
// options. Nothing here touches the network.

import type { Certificate } from '../certs/certificate.js';
import { TrustStore } from '../certs/trust-store.js';
import type { Clock } from '../clock.js';
import { ConfigError } from '../errors.js';
import { KeyManager } from '../protocol/key-manager.js';
import { MemoryStorage } from '../storage/memory.js';
import type { Storage } from '../storage/types.js';
import { WorkerSigner } from '../worker/worker-signer.js';
import type { ControlTopics } from './control-topics.js';
import { CLIENT_DEFAULTS, type SecureClientOptions } from './options.js';

export interface Session {
  readonly trust: TrustStore;
  /** Our own certificate, as the trust store accepted it. */
  readonly certificate: Certificate;
  readonly signer: WorkerSigner | undefined;
  readonly keys: KeyManager;
  /** Where the client's state is kept (options.storage, or memory). */
  readonly storage: Storage;
}

/** Opens the trust store, the signing workers and the key manager; `onError` gets what the workers report. */
export async function openSession(o: SecureClientOptions, clock: Clock, topics: ControlTopics, onError: (err: unknown) => void): Promise<Session> {
  const storage = o.storage ?? new MemoryStorage();
  const now = clock();
  const trust = await TrustStore.open(o.trustAnchor, { storage });
  const ownBytes = o.certificate instanceof Uint8Array ? o.certificate : o.certificate.bytes;
  let own: Certificate;
  try {
    own = await trust.addCertificate(ownBytes, now);
  } catch (err) {
    throw new ConfigError('BAD_CERTIFICATE', `our own certificate is not valid under the trust anchor: ${(err as Error).message}`, { cause: err });
  }
  if (own.subject !== o.identity.id) throw new ConfigError('IDENTITY_MISMATCH', `the certificate is for ${own.subject}, the identity is ${o.identity.id}`);
  if (o.revocationList) await trust.applyRevocationList(o.revocationList);
  for (const c of o.certificates ?? []) await trust.addCertificate(c instanceof Uint8Array ? c : c.bytes, now);
  let signer: WorkerSigner | undefined;
  if (o.signWorkers !== undefined) {
    try {
      signer = await WorkerSigner.start(o.identity, o.signWorkers, onError);
    } catch (err) {
      onError(err); // signing stays on this thread
    }
  }
  let keys: KeyManager;
  try {
    keys = await KeyManager.open({
      ...(signer !== undefined && { signer: (message: Uint8Array) => signer.sign(message) }),
      identity: o.identity,
      certificate: own,
      trust,
      storage,
      clock,
      ...(o.replay?.maxAgeMs !== undefined && { maxAgeMs: o.replay.maxAgeMs }),
      ...(o.replay?.clockSkewMs !== undefined && { clockSkewMs: o.replay.clockSkewMs }),
      ...(o.replay?.retainedMaxAgeMs !== undefined && { retainedMaxAgeMs: o.replay.retainedMaxAgeMs }),
      ...(o.rotation?.afterMessages !== undefined && { rotateAfterMessages: o.rotation.afterMessages }),
      ...(o.rotation?.afterMs !== undefined && { rotateAfterMs: o.rotation.afterMs }),
      ...(o.rotation?.graceMs !== undefined && { graceMs: o.rotation.graceMs }),
      ...(o.rotation?.joinWindowMs !== undefined && { joinWindowMs: o.rotation.joinWindowMs }),
      ...(o.revocation !== undefined && { revocation: o.revocation }),
      ...(o.maxPayloadBytes !== undefined && { maxPayloadBytes: o.maxPayloadBytes }),
      maxHeldPerStream: o.maxHeldPerStream ?? CLIENT_DEFAULTS.maxHeldPerStream,
      grantTopic: (subscriber) => topics.grant(subscriber),
      ...(o.amortise !== undefined && { amortise: o.amortise }),
      ...(o.acceptAmortised !== undefined && { acceptAmortised: o.acceptAmortised }),
    });
  } catch (err) {
    await signer?.close(); // no client will own these workers
    throw err;
  }
  return { trust, certificate: own, signer, keys, storage };
}
