// The signed-mode run's cast: the operator CA and the devices it certifies
// (two publishers, two subscribers, a device revoked mid-run and one whose
// certificate expires mid-run), the impostors' keys (a fake CA, keys under
// real names), what is genuine, and a model of each connected client.

import { CertificateAuthority, issueCertificate, type Certificate, type TrustAnchor } from '../../../src/certs/certificate.js';
import { generateIdentity, type Identity } from '../../../src/identity/index.js';
import { MemoryStorage } from '../../../src/storage/memory.js';
import { ClientModel, Genuine } from '../model.js';
import { CH1, CH2, DAY } from '../plant.js';

/** sub-1's grace period for an old epoch: short, so that the rotation's replays of the old epoch are STALE_EPOCH soon. */
export const SUB1_GRACE_MS = 1_000;

export interface Party {
  readonly id: string;
  readonly identity: Identity;
  readonly cert: Certificate;
  readonly storage: MemoryStorage;
}

export interface Fleet {
  readonly ca: CertificateAuthority;
  readonly anchor: TrustAnchor;
  /** Certified for CH1 and sub-1's and sub-2's command topics (serial 2). */
  readonly pub1: Party;
  /** pub-1's superseded certificate (serial 1): announcing it again is a rollback. */
  readonly pub1OldCert: Certificate;
  readonly pub2: Party;
  readonly sub1: Party;
  readonly sub2: Party;
  /** Certified for CH1, revoked by list 1; never connects. */
  readonly rogue: Party;
  /** Certified for CH1 for 25 s; never connects. */
  readonly temp: Party;
  /** An impostor's own keys under pub-1's name. */
  readonly mallory: Identity;
  /** An impostor's own keys under sub-1's name. */
  readonly malloryS: Identity;
  /** A CA with the operator's name and other keys, and the certificate it gives mallory. */
  readonly fakeCa: CertificateAuthority;
  readonly fakeCert: Certificate;
  readonly genuine: Genuine;
  /** Every device's certificate by subject (the models decrypt genuine grants with them). */
  readonly certs: Map<string, Certificate>;
  /** The model of each client that connects, by id. */
  readonly models: Map<string, ClientModel>;
}

export async function createFleet(): Promise<Fleet> {
  const ca = CertificateAuthority.generate('operator-ca');
  const now0 = Date.now();
  const certFor = (identity: Identity, rights: { publish?: string[]; subscribe?: string[] }, extra: { serial?: number; notBefore?: number; notAfter?: number } = {}): Certificate =>
    issueCertificate(ca, {
      subject: identity.id,
      serial: extra.serial ?? 1,
      notBefore: extra.notBefore ?? now0 - DAY,
      notAfter: extra.notAfter ?? now0 + 365 * DAY,
      keyEpoch: 1,
      publicKeys: identity.publicKeys,
      publish: rights.publish ?? [],
      subscribe: rights.subscribe ?? [],
    });
  const party = async (id: string, rights: { publish?: string[]; subscribe?: string[] }, extra: { serial?: number; notBefore?: number; notAfter?: number } = {}): Promise<Party> => {
    const identity = await generateIdentity(id);
    return { id, identity, cert: certFor(identity, rights, extra), storage: new MemoryStorage() };
  };
  const pub1 = await party('pub-1', { publish: [CH1, 'cmd/sub-1', 'cmd/sub-2'] }, { serial: 2 });
  const pub1OldCert = certFor(pub1.identity, { publish: [CH1] }, { serial: 1 });
  const pub2 = await party('pub-2', { publish: [CH2] });
  const sub1 = await party('sub-1', { subscribe: ['plant/#', 'cmd/sub-1'] });
  const sub2 = await party('sub-2', { subscribe: ['plant/#', 'cmd/sub-2'] });
  const rogue = await party('rogue-1', { publish: [CH1] });
  const tempLifeMs = 25_000;
  const temp = await party('temp-1', { publish: [CH1] }, { notBefore: now0 - 60_000, notAfter: Date.now() + tempLifeMs });
  const mallory = await generateIdentity('pub-1'); // an impostor's own keys under pub-1's name
  const malloryS = await generateIdentity('sub-1');
  const fakeCa = CertificateAuthority.generate('operator-ca');
  const fakeCert = issueCertificate(fakeCa, {
    subject: 'pub-1',
    serial: 9,
    notBefore: now0 - DAY,
    notAfter: now0 + DAY,
    keyEpoch: 1,
    publicKeys: mallory.publicKeys,
    publish: ['#'],
    subscribe: ['#'],
  });

  const genuine = new Genuine();
  const certs = new Map<string, Certificate>();
  for (const p of [pub1, pub2, sub1, sub2, rogue, temp]) {
    genuine.addSigned(p.cert.bytes);
    certs.set(p.id, p.cert);
  }
  genuine.addSigned(pub1OldCert.bytes);
  const anchor = ca.trustAnchor;

  const models = new Map<string, ClientModel>();
  const modelFor = (p: Party, subscriptions: readonly string[], graceMs?: number): ClientModel => {
    const m = new ClientModel({
      identity: p.identity,
      certificate: p.cert,
      anchor,
      genuine,
      subscriptions,
      certificateOf: (s) => certs.get(s),
      ...(graceMs !== undefined ? { graceMs } : {}),
    });
    models.set(p.id, m);
    return m;
  };
  // The filters each client subscribes to in run.ts (the publishers none).
  modelFor(pub1, []);
  modelFor(pub2, []);
  modelFor(sub1, ['plant/#', 'cmd/sub-1'], SUB1_GRACE_MS);
  modelFor(sub2, ['plant/#', 'cmd/sub-2']);

  return { ca, anchor, pub1, pub1OldCert, pub2, sub1, sub2, rogue, temp, mallory, malloryS, fakeCa, fakeCert, genuine, certs, models };
}
