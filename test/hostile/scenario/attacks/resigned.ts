// The expensive attacks of the signed-mode run: messages freshly signed with
// a real key (an honest publisher's, a revoked or expired device's, a
// subscriber's, the operator CA's) or a forger's, built when their moment
// comes, that must fail a check other than the signature: a timestamp out of
// range, the wrong key, a revoked or expired sender, an unauthorised channel
// or filter, a stale or rolled-back grant, an announcement or revocation list
// that rolls back or conflicts. Each is injected once (Attacker.launchPrepared).

import { createAnnouncement } from '../../../../src/certs/announce.js';
import type { Certificate } from '../../../../src/certs/certificate.js';
import { issueRevocationList } from '../../../../src/certs/revocation.js';
import type { SecureMqttClient } from '../../../../src/client/secure-client.js';
import type { Identity } from '../../../../src/identity/index.js';
import { sealDirect } from '../../../../src/protocol/direct.js';
import { sealGrant, sealKeyRequest, type GrantPayload } from '../../../../src/protocol/grant.js';
import { deriveGroupKeys, sealGroup } from '../../../../src/protocol/group.js';
import { hashOf } from '../../oracle.js';
import { CH1, PREFIX, T1 } from '../../plant.js';
import type { Attacker } from '../attacker.js';
import type { Prepared } from '../types.js';

/** Queues the re-signed attacks on `atk.prepared`; `pub` is pub-1's client (its current epoch is the one to forge in). */
export async function prepareResigned(atk: Attacker, pub: SecureMqttClient): Promise<void> {
  const { rng, prepared } = atk;
  const { ca, pub1, pub1OldCert, pub2, sub1, sub2, rogue, temp, mallory, malloryS, fakeCa, fakeCert, genuine } = atk.fleet;
  const epoch1 = (await pub.keyManager!.currentEpoch(CH1)) ?? 1;
  const randomKeys = (sender: string, channel: string, epoch: number) => deriveGroupKeys(rng.bytes(32), sender, channel, epoch);
  const sealed = async (sender: Identity, channel: string, epoch: number, topic: string, seq: number, ts: number): Promise<Uint8Array> =>
    sealGroup({ sender, keys: await randomKeys(sender.id, channel, epoch), topic, payload: rng.bytes(40), seq, now: ts });
  const always = (): boolean => true;
  const afterExpiry = (): boolean => Date.now() > temp.cert.notAfter + 1_500;
  const grantTo = async (publisher: Identity, subscriber: Certificate, g: GrantPayload, seq: number): Promise<Uint8Array> => {
    const bytes = await sealGrant({ publisher, subscriber, topic: `${PREFIX}/grants/${subscriber.subject}`, grant: g, seq, now: Date.now() });
    return bytes;
  };
  for (let i = 0; i < 4; i++) {
    const target = i % 2 ? 'sub-2' : 'sub-1';
    const topic = T1[i % 3]!;
    prepared.push(
      { kind: 'signed-future-dated', target, ready: always, build: async () => { const b = await sealed(pub1.identity, CH1, epoch1, topic, 2e12 + i, Date.now() + 600_000); genuine.addUndecryptable(b, topic); return { topic, payload: b }; } },
      { kind: 'signed-expired-timestamp', target, ready: always, build: async () => { const b = await sealed(pub1.identity, CH1, epoch1, topic, 2.1e12 + i, Date.now() - 600_000); genuine.addUndecryptable(b, topic); return { topic, payload: b }; } },
      { kind: 'signed-wrong-key', target, ready: always, build: async () => { const b = await sealed(pub1.identity, CH1, epoch1, topic, 2.2e12 + i, Date.now()); genuine.addUndecryptable(b, topic); return { topic, payload: b }; } },
      { kind: 'signed-revoked-sender', target, ready: () => atk.revoked, build: async () => { const b = await sealed(rogue.identity, CH1, 1, topic, i, Date.now()); genuine.addGroup(b, topic); return { topic, payload: b }; } },
      { kind: 'signed-expired-sender', target, ready: afterExpiry, build: async () => { const b = await sealed(temp.identity, CH1, 1, topic, i, Date.now()); genuine.addGroup(b, topic); return { topic, payload: b }; } },
      { kind: 'forged-signer', target, ready: always, build: async () => ({ topic, payload: await sealed(mallory, CH1, epoch1, topic, 2.3e12 + i, Date.now()) }) },
    );
  }
  for (let i = 0; i < 3; i++) {
    const target = i % 2 ? 'sub-2' : 'sub-1';
    const tcert = target === 'sub-1' ? sub1.cert : sub2.cert;
    prepared.push(
      { kind: 'forged-direct', target, ready: always, build: async () => ({ topic: `cmd/${target}`, payload: await sealDirect({ sender: mallory, recipient: tcert, topic: `cmd/${target}`, payload: rng.bytes(20), seq: 3e12 + i, now: Date.now() }) }) },
      {
        kind: 'direct-unauthorised-sender',
        target,
        ready: always,
        build: async () => {
          const b = await sealDirect({ sender: pub2.identity, recipient: tcert, topic: `cmd/${target}`, payload: rng.bytes(20), seq: 3.1e12 + i, now: Date.now() });
          genuine.addSigned(b);
          return { topic: `cmd/${target}`, payload: b };
        },
      },
      {
        kind: 'forged-grant',
        target,
        ready: always,
        build: async () => ({ topic: `${PREFIX}/grants/${target}`, payload: await grantTo(mallory, tcert, { channel: CH1, epoch: epoch1, epochKey: rng.bytes(32), firstSeq: 0, notAfter: Date.now() + 3_600_000 }, 4e12 + i) }),
      },
      {
        kind: 'grant-unauthorised-channel',
        target,
        ready: always,
        build: async () => {
          const g = { channel: CH1, epoch: 77, epochKey: rng.bytes(32), firstSeq: 0, notAfter: Date.now() + 3_600_000 };
          const b = await grantTo(pub2.identity, tcert, g, 4.1e12 + i);
          genuine.addSigned(b);
          genuine.grantPlaintext.set(hashOf(b), g);
          return { topic: `${PREFIX}/grants/${target}`, payload: b };
        },
      },
      {
        kind: 'forged-key-request',
        target: 'pub-1',
        ready: always,
        build: async () => ({ topic: `${PREFIX}/key-requests/pub-1`, payload: sealKeyRequest({ subscriber: malloryS, publisher: 'pub-1', filter: 'plant/#', now: Date.now() }) }),
      },
    );
  }
  for (let i = 0; i < 2; i++) {
    const target = i % 2 ? 'sub-2' : 'sub-1';
    const tcert = target === 'sub-1' ? sub1.cert : sub2.cert;
    const signedGrant = (kind: string, g: () => GrantPayload, seq: number): Prepared => ({
      kind,
      target,
      ready: always,
      build: async () => {
        const payload = g();
        const b = await grantTo(pub1.identity, tcert, payload, seq);
        genuine.addSigned(b);
        genuine.grantPlaintext.set(hashOf(b), payload);
        return { topic: `${PREFIX}/grants/${target}`, payload: b };
      },
    });
    prepared.push(
      signedGrant('grant-stale', () => ({ channel: CH1, epoch: epoch1 + 50, epochKey: rng.bytes(32), firstSeq: 0, notAfter: Date.now() - 7_200_000 }), 4.2e12 + i),
      signedGrant('grant-rollback', () => ({ channel: CH1, epoch: epoch1, epochKey: rng.bytes(32), firstSeq: 0, notAfter: Date.now() + 3_600_000 }), 4.3e12 + i),
      {
        kind: 'signed-key-request-unauthorised',
        target: 'pub-1',
        ready: always,
        build: async () => {
          const b = sealKeyRequest({ subscriber: sub2.identity, publisher: 'pub-1', filter: 'admin/#', now: Date.now() });
          genuine.addSigned(b);
          return { topic: `${PREFIX}/key-requests/pub-1`, payload: b };
        },
      },
      {
        kind: 'signed-key-request-future',
        target: 'pub-1',
        ready: always,
        build: async () => {
          const b = sealKeyRequest({ subscriber: sub1.identity, publisher: 'pub-1', filter: 'plant/#', now: Date.now() + 600_000 });
          genuine.addSigned(b);
          return { topic: `${PREFIX}/key-requests/pub-1`, payload: b };
        },
      },
      {
        kind: 'announcement-rollback',
        target,
        ready: always,
        build: async () => {
          const b = createAnnouncement(pub1.identity, pub1OldCert);
          genuine.addSigned(b);
          return { topic: `${PREFIX}/certs/pub-1`, payload: b };
        },
      },
      {
        kind: 'announcement-future',
        target,
        ready: always,
        build: async () => {
          const b = createAnnouncement(pub1.identity, pub1.cert, { timestamp: Date.now() + 3_600_000 });
          genuine.addSigned(b);
          return { topic: `${PREFIX}/certs/pub-1`, payload: b };
        },
      },
      { kind: 'announcement-forged-ca', target, ready: always, build: async () => ({ topic: `${PREFIX}/certs/pub-1`, payload: createAnnouncement(mallory, fakeCert) }) },
      {
        kind: 'revocation-list-forged',
        target,
        ready: always,
        build: async () => ({ topic: `${PREFIX}/crl`, payload: issueRevocationList(fakeCa, { number: 99, issuedAt: Date.now(), entries: [{ kind: 'subject', subject: 'pub-1' }] }).bytes }),
      },
    );
  }
  prepared.push({
    kind: 'revocation-list-conflict',
    target: 'sub-1',
    ready: () => atk.list2,
    build: async () => {
      const l = issueRevocationList(ca, { number: 2, issuedAt: Date.now(), entries: [{ kind: 'subject', subject: 'sub-2' }] });
      genuine.addSigned(l.bytes);
      return { topic: `${PREFIX}/crl`, payload: l.bytes };
    },
  });
}
