// The amortised-mode run's cast: the operator CA, the two amortised
// publishers and two subscribers, rogue-1 (certified for CH1, never connects:
// its real key signs forged manifests), mallory (an impostor's own keys under
// pub-1's name), what is genuine (the provenance) and a model of each
// subscriber; and the subscribers' settings the models share.

import { CertificateAuthority, issueCertificate, type Certificate } from '../../../src/certs/certificate.js';
import { generateIdentity, type Identity } from '../../../src/identity/index.js';
import { AMORTISED_DEFAULTS } from '../../../src/protocol/amortised.js';
import { AmortisedModel, Provenance } from '../amortised-model.js';
import { CH1, CH2, DAY } from '../plant.js';

/** How long a subscriber holds an amortised message for its manifest. */
export const HOLD_MS = 1_500;
/**
 * The subscribers' hold bounds (acceptAmortised; the model is given the same): maxHeld raised so that only the
 * far-ahead bound binds in this run (a small one, so that the insider's floods fill it); the rest are the defaults.
 */
export const HOLD_BOUNDS = Object.freeze({
  maxHeld: 100_000,
  maxHeldPerChannel: AMORTISED_DEFAULTS.maxHeldPerChannel,
  maxHeldBytes: AMORTISED_DEFAULTS.maxHeldBytes,
  maxHeldBytesPerChannel: AMORTISED_DEFAULTS.maxHeldBytesPerChannel,
  maxAhead: 1_024,
  maxHeldAhead: 32,
});
/** The subscribers' grace period for an old epoch. */
export const GRACE_MS = 1_000;
/** The subscribers (the only clients observed: the publishers must see no security event at all). */
export const SUBS = ['sub-1', 'sub-2'] as const;

export interface Fleet {
  readonly ca: CertificateAuthority;
  /** Every device's certificate (each client is given the others'). */
  readonly certs: readonly Certificate[];
  /** A device's identity by id. */
  readonly identity: (id: string) => Identity;
  /** An impostor's own keys under pub-1's name. */
  readonly mallory: Identity;
  readonly provenance: Provenance;
  /** The model of each subscriber, by id. */
  readonly models: Map<string, AmortisedModel>;
}

export async function createFleet(): Promise<Fleet> {
  const ca = CertificateAuthority.generate('operator-ca');
  const now0 = Date.now();
  const certs: Certificate[] = [];
  const identities = new Map<string, Identity>();
  const party = async (id: string, publish: string[], subscribe: string[]): Promise<Certificate> => {
    const identity = await generateIdentity(id);
    identities.set(id, identity);
    const cert = issueCertificate(ca, { subject: id, serial: 1, notBefore: now0 - DAY, notAfter: now0 + 365 * DAY, keyEpoch: 1, publicKeys: identity.publicKeys, publish, subscribe });
    certs.push(cert);
    return cert;
  };
  await party('pub-1', [CH1], []);
  await party('pub-2', [CH2], []);
  await party('sub-1', [], ['plant/#']);
  await party('sub-2', [], ['plant/#']);
  await party('rogue-1', [CH1], []); // certified for CH1, never connects: its real key signs forged manifests
  const mallory = await generateIdentity('pub-1'); // an impostor's own keys under pub-1's name
  const identity = (id: string): Identity => identities.get(id)!;

  const provenance = new Provenance();
  const models = new Map<string, AmortisedModel>();
  for (const id of SUBS) {
    models.set(id, new AmortisedModel({ id, subscriptions: ['plant/#'], certificates: certs, provenance, holdMs: HOLD_MS, maxManifests: 100_000, ...HOLD_BOUNDS, graceMs: GRACE_MS }));
  }
  return { ca, certs, identity, mallory, provenance, models };
}
