// Fixed test vectors of the protocol messages: one per message type, from
// deterministic keys (seeded identities and CA) and deterministic randomness
// (X25519 ephemeral key, ML-KEM encapsulation seed, Falcon signing seed and
// key-request nonce from seededRandom; AES nonces are derived anyway).
//
//   npx tsx scripts/protocol-vectors.ts          # print the Markdown section
//   npx tsx scripts/protocol-vectors.ts --write  # replace it in docs/PROTOCOL.md
//
// test/protocol/vectors.test.ts regenerates them and compares them byte for
// byte with docs/PROTOCOL.md, then opens each one.

import { pathToFileURL } from 'node:url';
import { init } from '../bindings/index.js';
import { CertificateAuthority, issueCertificate, type Certificate } from '../src/certs/certificate.js';
import { hybridEncapsulate } from '../src/crypto/hybrid-kem.js';
import { seededRandom } from '../src/crypto/random.js';
import { AES_KEY_BYTES, AES_NONCE_BYTES, hkdf } from '../src/crypto/webcrypto.js';
import { generateIdentity, type Identity } from '../src/identity/index.js';
import { ByteWriter } from '../src/wire/codec.js';
import { sealDirect } from '../src/protocol/direct.js';
import { sealGrant, sealKeyRequest, type GrantPayload } from '../src/protocol/grant.js';
import { deriveGroupKeys, sealGroup } from '../src/protocol/group.js';
import { LABELS } from '../src/wire/labels.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const seed = (label: string): Uint8Array => {
  // 32 bytes from a label, readable in the docs: the label's bytes, zero-padded.
  const out = new Uint8Array(32);
  out.set(utf8(label).subarray(0, 32));
  return out;
};

/** 2027-01-15T08:00:00Z */
export const VECTOR_TIME = Date.UTC(2027, 0, 15, 8);

export interface ProtocolVector {
  readonly id: 'direct' | 'grant' | 'group' | 'key-request';
  readonly title: string;
  /** Inputs and intermediate values, in display order. */
  readonly values: readonly (readonly [string, string])[];
  readonly bytes: Uint8Array;
}

export interface VectorWorld {
  readonly ca: CertificateAuthority;
  readonly plc: Identity;
  readonly hmi: Identity;
  readonly plcCert: Certificate;
  readonly hmiCert: Certificate;
}

/** The deterministic CA, identities and certificates the vectors use. */
export async function vectorWorld(): Promise<VectorWorld> {
  await init();
  const ca = CertificateAuthority.generate('vector-ca', { seed: seed('pqc-iiot vector ca') });
  const plc = await generateIdentity('plc-1', { seed: seed('pqc-iiot vector plc-1') });
  const hmi = await generateIdentity('hmi-1', { seed: seed('pqc-iiot vector hmi-1') });
  const cert = (id: Identity, n: number, publish: string[], subscribe: string[]): Certificate =>
    issueCertificate(
      ca,
      {
        subject: id.id,
        serial: n,
        notBefore: VECTOR_TIME - 86_400_000,
        notAfter: VECTOR_TIME + 365 * 86_400_000,
        keyEpoch: 1,
        publicKeys: id.publicKeys,
        publish,
        subscribe,
      },
      { signingSeed: seededRandom(utf8(`vector cert ${n}`))(88) },
    );
  return {
    ca,
    plc,
    hmi,
    plcCert: cert(plc, 1, ['plant/line1/#'], ['plant/cmd/plc-1']),
    hmiCert: cert(hmi, 2, ['plant/cmd/#'], ['plant/#']),
  };
}

export const VECTOR_INPUTS = Object.freeze({
  direct: { topic: 'plant/cmd/plc-1', payload: 'open valve 7', seq: 1 },
  grant: {
    topic: 'pqc-iiot/v1/grants/hmi-1',
    seq: 2,
    grant: {
      channel: 'plant/line1/#',
      epoch: 1,
      epochKey: Uint8Array.from({ length: 32 }, (_, i) => i),
      firstSeq: 0,
      notAfter: VECTOR_TIME + 3_600_000,
    } satisfies GrantPayload,
  },
  group: { topic: 'plant/line1/temp', payload: '21.5 C', seq: 0 },
  keyRequest: { filter: 'plant/line1/#' },
});

/** The hybrid shared secret and AES key/nonce a direct envelope with this randomness uses (for implementers). */
async function directSecrets(recipient: Certificate, random: string, type: number): Promise<[string, string][]> {
  const kem = await hybridEncapsulate(recipient.publicKeys, seededRandom(utf8(random)));
  const info = Uint8Array.from([...LABELS.directKdf, type]);
  const okm = await hkdf(kem.sharedSecret, new Uint8Array(0), info, AES_KEY_BYTES + AES_NONCE_BYTES);
  return [
    ['hybrid shared secret', hex(kem.sharedSecret)],
    ['AES-256-GCM key', hex(okm.subarray(0, AES_KEY_BYTES))],
    ['AES-256-GCM nonce', hex(okm.subarray(AES_KEY_BYTES))],
  ];
}

export async function generateVectors(v?: VectorWorld): Promise<ProtocolVector[]> {
  const { plc, hmi, plcCert, hmiCert } = v ?? (await vectorWorld());
  const t = VECTOR_TIME;
  const D = VECTOR_INPUTS.direct;
  const direct = await sealDirect({
    sender: hmi,
    recipient: plcCert,
    topic: D.topic,
    payload: utf8(D.payload),
    seq: D.seq,
    now: t,
    random: seededRandom(utf8('vector direct')),
  });
  const G = VECTOR_INPUTS.grant;
  const grant = await sealGrant({
    publisher: plc,
    subscriber: hmiCert,
    topic: G.topic,
    grant: G.grant,
    seq: G.seq,
    now: t,
    random: seededRandom(utf8('vector grant')),
  });
  const M = VECTOR_INPUTS.group;
  const keys = await deriveGroupKeys(G.grant.epochKey, 'plc-1', G.grant.channel, G.grant.epoch);
  const kdfInfo = (label: Uint8Array): Uint8Array =>
    new ByteWriter().fixed(label, label.length, 'label').string16('plc-1').string16(G.grant.channel).u32(G.grant.epoch).finish();
  const aesKey = await hkdf(G.grant.epochKey, new Uint8Array(0), kdfInfo(LABELS.groupKey), 32);
  const group = await sealGroup({
    sender: plc,
    keys,
    topic: M.topic,
    payload: utf8(M.payload),
    seq: M.seq,
    now: t,
    random: seededRandom(utf8('vector group')),
  });
  const keyRequest = sealKeyRequest({
    subscriber: hmi,
    publisher: 'plc-1',
    filter: VECTOR_INPUTS.keyRequest.filter,
    now: t,
    random: seededRandom(utf8('vector key-request')),
  });
  const common: [string, string][] = [['timestamp', `${t} (2027-01-15T08:00:00Z)`]];
  return [
    {
      id: 'direct',
      title: 'Direct envelope (type D): hmi-1 to plc-1',
      values: [
        ['sender / recipient (key epoch)', 'hmi-1 / plc-1 (1)'],
        ['topic', D.topic],
        ['payload', `"${D.payload}"`],
        ['seq', String(D.seq)],
        ...common,
        ['randomness', 'seededRandom("vector direct"): X25519 ephemeral 32, ML-KEM seed 32, Falcon seed 88'],
        ...(await directSecrets(plcCert, 'vector direct', 0x44)),
      ],
      bytes: direct,
    },
    {
      id: 'grant',
      title: 'Key grant (type G): plc-1 to hmi-1',
      values: [
        ['sender / recipient (key epoch)', 'plc-1 / hmi-1 (1)'],
        ['topic', G.topic],
        ['grant', `channel ${G.grant.channel}, epoch ${G.grant.epoch}, firstSeq ${G.grant.firstSeq}, notAfter ${G.grant.notAfter}`],
        ['epoch key', hex(G.grant.epochKey)],
        ['seq', String(G.seq)],
        ...common,
        ['randomness', 'seededRandom("vector grant")'],
        ...(await directSecrets(hmiCert, 'vector grant', 0x47)),
      ],
      bytes: grant,
    },
    {
      id: 'group',
      title: 'Group data envelope (type M): plc-1 on plant/line1/temp',
      values: [
        ['sender / channel / epoch', `plc-1 / ${G.grant.channel} / ${G.grant.epoch}`],
        ['epoch key', hex(G.grant.epochKey)],
        ['AES-256-GCM key', hex(aesKey)],
        ['nonce base (iv)', hex(keys.iv)],
        ['received topic', M.topic],
        ['payload', `"${M.payload}"`],
        ['seq', String(M.seq)],
        ...common,
        ['randomness', 'seededRandom("vector group"): Falcon seed 88'],
      ],
      bytes: group,
    },
    {
      id: 'key-request',
      title: 'Key request (type Q): hmi-1 asks plc-1',
      values: [
        ['subscriber / publisher', 'hmi-1 / plc-1'],
        ['filter', VECTOR_INPUTS.keyRequest.filter],
        ...common,
        ['randomness', 'seededRandom("vector key-request"): nonce 16, Falcon seed 88'],
      ],
      bytes: keyRequest,
    },
  ];
}

export const VECTOR_KEYS_NOTE =
  'Keys: CertificateAuthority.generate("vector-ca", { seed }) and generateIdentity(id, { seed }) with seed = the ASCII ' +
  'string "pqc-iiot vector ca" / "pqc-iiot vector plc-1" / "pqc-iiot vector hmi-1" zero-padded to 32 bytes; certificates ' +
  'serial 1 (plc-1: publish plant/line1/#) and 2 (hmi-1: subscribe plant/#), key epoch 1. seededRandom(s) is ' +
  'SHAKE-256("pqc-iiot/test-only/seeded-random" || s || u32be(i)) for the i-th request (src/crypto/random.ts).';

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

/** The Markdown body of the vectors section (between its markers). */
export function renderVectors(vectors: readonly ProtocolVector[]): string {
  const intro =
    'Generated by `npx tsx scripts/protocol-vectors.ts --write`; `test/protocol/vectors.test.ts` regenerates them and ' +
    'compares byte for byte, then opens each one. ' +
    VECTOR_KEYS_NOTE;
  const lines: string[] = ['## Test vectors', ...wrap(intro, 118), ''];
  for (const v of vectors) {
    lines.push(`### ${v.title} (${v.bytes.length} bytes)`, '', '| input or value | |', '|---|---|');
    for (const [k, val] of v.values) lines.push(`| ${k} | \`${val}\` |`);
    lines.push('', `<!-- vector:${v.id} -->`, '```text');
    const h = hex(v.bytes);
    for (let i = 0; i < h.length; i += 128) lines.push(h.slice(i, i + 128));
    lines.push('```', '');
  }
  return lines.join('\n');
}

/** Reads every vector's bytes back from a document produced by renderVectors. */
export function parseVectors(markdown: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const m of markdown.matchAll(/<!-- vector:([a-z-]+) -->\n```text\n([0-9a-f\n]+)```/g)) {
    const h = m[2]!.replace(/\n/g, '');
    out.set(m[1]!, Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16)));
  }
  return out;
}

export const VECTORS_BEGIN = '<!-- section:vectors:begin (owner: envelopes) -->';
export const VECTORS_END = '<!-- section:vectors:end -->';

async function main(): Promise<void> {
  const body = renderVectors(await generateVectors());
  if (!process.argv.includes('--write')) {
    process.stdout.write(`${body}\n`);
    return;
  }
  const { readFileSync, writeFileSync } = await import('node:fs');
  const path = new URL('../docs/PROTOCOL.md', import.meta.url);
  const doc = readFileSync(path, 'utf8');
  const a = doc.indexOf(VECTORS_BEGIN);
  const b = doc.indexOf(VECTORS_END);
  if (a < 0 || b < a) throw new Error('docs/PROTOCOL.md: vectors section markers not found');
  writeFileSync(path, `${doc.slice(0, a + VECTORS_BEGIN.length)}\n${body}\n${doc.slice(b)}`);
  process.stdout.write('docs/PROTOCOL.md: vectors section written\n');
}

const invoked = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invoked) await main();
