// The fixed protocol vectors in docs/PROTOCOL.md: regenerated from their seeds
// and compared byte for byte, then opened with the deterministic keys.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { TrustStore } from '../../src/certs/trust-store.js';
import { openDirect } from '../../src/protocol/direct.js';
import { NonceCache, openGrant, openKeyRequest } from '../../src/protocol/grant.js';
import { deriveGroupKeys, openGroup } from '../../src/protocol/group.js';
import { ReplayGuard } from '../../src/replay/guard.js';
import {
  VECTOR_INPUTS,
  VECTOR_TIME,
  generateVectors,
  hex,
  parseVectors,
  renderVectors,
  vectorWorld,
  type ProtocolVector,
  type VectorWorld,
} from '../../scripts/protocol-vectors.js';

let v: VectorWorld;
let vectors: ProtocolVector[];
let trust: TrustStore;

beforeAll(async () => {
  v = await vectorWorld();
  vectors = await generateVectors(v);
  trust = await TrustStore.open(v.ca.trustAnchor);
  await trust.addCertificate(v.plcCert, VECTOR_TIME);
  await trust.addCertificate(v.hmiCert, VECTOR_TIME);
});

const byId = (id: string): Uint8Array => vectors.find((x) => x.id === id)!.bytes;
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('protocol vectors', () => {
  it('docs/PROTOCOL.md holds exactly the regenerated vectors', () => {
    const doc = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8');
    const stored = parseVectors(doc);
    expect([...stored.keys()].sort()).toEqual(['direct', 'grant', 'group', 'key-request']);
    for (const x of vectors) expect(hex(stored.get(x.id)!), x.id).toBe(hex(x.bytes));
    // The whole rendered section (inputs and intermediate values too) is in the document.
    expect(doc).toContain(renderVectors(vectors));
  });

  it('generation is deterministic', async () => {
    const again = await generateVectors(v);
    expect(again.map((x) => hex(x.bytes))).toEqual(vectors.map((x) => hex(x.bytes)));
  });

  it('each vector opens with the deterministic keys', async () => {
    const replay = await ReplayGuard.open({ clock: () => VECTOR_TIME });
    const d = await openDirect(byId('direct'), {
      recipient: v.plc,
      recipientKeyEpoch: 1,
      receivedTopic: VECTOR_INPUTS.direct.topic,
      trust,
      now: VECTOR_TIME,
      replay,
    });
    expect(text(d.payload)).toBe(VECTOR_INPUTS.direct.payload);
    const g = await openGrant(byId('grant'), { recipient: v.hmi, receivedTopic: VECTOR_INPUTS.grant.topic, trust, now: VECTOR_TIME, replay });
    expect(g.grant).toEqual(VECTOR_INPUTS.grant.grant);
    const keys = await deriveGroupKeys(g.grant.epochKey, 'plc-1', g.grant.channel, g.grant.epoch);
    const m = await openGroup(byId('group'), {
      receivedTopic: VECTOR_INPUTS.group.topic,
      trust,
      now: VECTOR_TIME,
      replay,
      lookup: () => ({ ok: true, keys }),
    });
    expect(text(m.payload)).toBe(VECTOR_INPUTS.group.payload);
    const q = openKeyRequest(byId('key-request'), {
      publisher: 'plc-1',
      trust,
      now: VECTOR_TIME,
      maxAgeMs: 60_000,
      clockSkewMs: 0,
      nonces: new NonceCache(),
    });
    expect(q).toMatchObject({ subscriber: 'hmi-1', filter: VECTOR_INPUTS.keyRequest.filter });
  });
});
