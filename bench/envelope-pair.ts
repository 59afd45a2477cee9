// A publisher and a subscriber KeyManager wired to each other without MQTT
// (grants handed over directly): the envelope bench and the soak use it.
import { init } from '../bindings/index.js';
import { CertificateAuthority, issueCertificate, type Certificate } from '../src/certs/certificate.js';
import { TrustStore } from '../src/certs/trust-store.js';
import { generateIdentity, type Identity } from '../src/identity/index.js';
import { KeyManager, type KeyManagerOptions } from '../src/protocol/key-manager.js';
import { MemoryStorage } from '../src/storage/memory.js';

const seed = (n: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => (n + i) & 0xff);

export interface EnvelopePair {
  readonly pub: KeyManager;
  readonly sub: KeyManager;
  readonly hmi: Identity;
  readonly plcCert: Certificate;
  readonly topic: string;
  /** Resolves when every grant handed over so far is installed (as a subscriber's inbound queue would order it). */
  grants(): Promise<void>;
  close(): Promise<void>;
}

export async function envelopePair(
  options: { rotateAfterMessages?: number; pub?: Partial<KeyManagerOptions>; sub?: Partial<KeyManagerOptions> } = {},
): Promise<EnvelopePair> {
  await init();
  const now = Date.now();
  const ca = CertificateAuthority.generate('bench-ca', { seed: seed(1) });
  const cert = (id: Identity, publish: string[], subscribe: string[]): Certificate =>
    issueCertificate(ca, {
      subject: id.id,
      serial: 1,
      notBefore: now - 86_400_000,
      notAfter: now + 86_400_000,
      keyEpoch: 1,
      publicKeys: id.publicKeys,
      publish,
      subscribe,
    });
  const plc = await generateIdentity('bench-plc', { seed: seed(2) });
  const hmi = await generateIdentity('bench-hmi', { seed: seed(3) });
  const plcCert = cert(plc, ['bench/line/#'], []);
  const hmiCert = cert(hmi, ['bench/cmd/#'], ['bench/#']);
  const trust = await TrustStore.open(ca.trustAnchor);
  await trust.addCertificate(plcCert, now);
  await trust.addCertificate(hmiCert, now);
  const pub = await KeyManager.open({
    identity: plc,
    certificate: plcCert,
    trust,
    storage: new MemoryStorage(),
    rotateAfterMessages: options.rotateAfterMessages ?? 1_000_000,
    ...options.pub,
  });
  const sub = await KeyManager.open({ identity: hmi, certificate: hmiCert, trust, storage: new MemoryStorage(), ...options.sub });
  // Every new epoch's grants go straight to the subscriber, as the MQTT client would deliver them.
  let pending: Promise<unknown> = Promise.resolve();
  pub.on('rotated', (event) => {
    for (const g of event.grants) pending = pending.then(() => sub.acceptGrant(g.bytes, g.topic));
  });
  for (const g of await pub.handleKeyRequest(sub.keyRequest('bench-plc', 'bench/line/#'))) await sub.acceptGrant(g.bytes, g.topic);
  return {
    pub,
    sub,
    hmi,
    plcCert,
    topic: 'bench/line/temp',
    async grants() {
      await pending;
    },
    async close() {
      await pub.close();
      await sub.close();
    },
  };
}
