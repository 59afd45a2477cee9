// Every signature the SDK makes with a secret key goes through an expanded key
// (docs/FALCON-FP.md): Falcon's dyn path (the core's pqc_sign / pqc_sign_derand,
// which divide and take square roots on the secret key in every signature on the
// fast build) is never reached from src/. Proved two ways:
//
// - at run time: the core's signing entries are wrapped with counters, then a
//   realistic flow runs (CAs of both suites, generated and from stored keys,
//   certificates and revocation lists, identities generated and imported,
//   announcements, and clients over an in-process Aedes broker: announcements,
//   key requests, grants, signed group, direct and amortised messages, a revocation
//   list). pqc_sign and pqc_sign_derand must never run; pqc_sign_expanded must.
// - statically: no expression in src/ reaches Signer.sign (bindings/falcon.ts),
//   resolved with the type checker (a receiver of any name, a destructured
//   `sign`), and no file in src/ names the raw entries. The checker is first
//   proved on a probe file that does both.
//
// The signing workers (src/worker/) run in other threads with their own core; the
// static check covers them.

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { falcon1024, falcon512, init } from '../../bindings/index.js';
import type { CoreFunctions } from '../../bindings/core.js';
import { getCore } from '../../bindings/state.js';
import { createAnnouncement } from '../../src/certs/announce.js';
import { CertificateAuthority, issueCertificate, verifyCertificate, type SignatureSuite } from '../../src/certs/certificate.js';
import { issueRevocationList, verifyRevocationList } from '../../src/certs/revocation.js';
import { exportIdentity, generateIdentity, importIdentity } from '../../src/identity/index.js';
import { useAedesClients } from '../support/aedes-clients.js';
import { str, text, until } from '../support/fleet.js';
import { seq } from '../support/helpers.js';

const ENTRIES = ['pqc_sign', 'pqc_sign_derand', 'pqc_sign_expand', 'pqc_sign_expanded'] as const;
type Entry = (typeof ENTRIES)[number];
const calls: Record<Entry, number> = { pqc_sign: 0, pqc_sign_derand: 0, pqc_sign_expand: 0, pqc_sign_expanded: 0 };
let restore: (() => void) | undefined;

/** Wraps the loaded core's signing entries with counters (the wrappers read `core.fn` at each call). */
function instrument(): () => void {
  const core = getCore() as unknown as { fn: CoreFunctions };
  const original = core.fn;
  const wrapped: Record<string, unknown> = { ...original };
  for (const name of ENTRIES) {
    const fn = original[name] as (...args: number[]) => number;
    wrapped[name] = (...args: number[]): number => {
      calls[name]++;
      return fn(...args);
    };
  }
  core.fn = wrapped as unknown as CoreFunctions;
  return () => {
    core.fn = original;
  };
}

/** Runs `flow` and returns how often each signing entry ran during it. */
async function counted(flow: () => unknown): Promise<Record<Entry, number>> {
  const before = { ...calls };
  await flow();
  return Object.fromEntries(ENTRIES.map((e) => [e, calls[e] - before[e]])) as Record<Entry, number>;
}

/** The flow signed, and only through expanded keys. */
function expectExpandedOnly(delta: Record<Entry, number>): void {
  expect({ pqc_sign: delta.pqc_sign, pqc_sign_derand: delta.pqc_sign_derand }).toEqual({ pqc_sign: 0, pqc_sign_derand: 0 });
  expect(delta.pqc_sign_expanded).toBeGreaterThan(0);
}

// Registered before useAedesClients(), so it runs first: its fleet's CA is counted too.
beforeAll(async () => {
  await init();
  restore = instrument();
});
afterAll(() => restore?.());

const setup = useAedesClients();
const DAY = 86_400_000;

describe('signing with a secret key, at run time', () => {
  it('the counters see each entry (the instrument works)', async () => {
    const kp = falcon512.keygen();
    const m = text('probe');
    expect(await counted(() => falcon512.sign(m, kp.secretKey))).toMatchObject({ pqc_sign: 1, pqc_sign_derand: 0, pqc_sign_expanded: 0 });
    expect(await counted(() => falcon512.sign(m, kp.secretKey, seq(88)))).toMatchObject({ pqc_sign: 0, pqc_sign_derand: 1 });
    const key = falcon512.expand(kp.secretKey);
    try {
      expect(await counted(() => key.sign(m))).toMatchObject({ pqc_sign: 0, pqc_sign_derand: 0, pqc_sign_expanded: 1 });
    } finally {
      key.destroy();
    }
  });

  for (const suite of ['falcon512', 'falcon1024'] as SignatureSuite[]) {
    it(`a ${suite} CA (generated, seeded, from stored keys) issues certificates and revocation lists through its expanded key`, async () => {
      const subject = await generateIdentity(`dev-${suite}`);
      const fields = {
        subject: subject.id,
        serial: 1,
        notBefore: Date.now() - DAY,
        notAfter: Date.now() + DAY,
        keyEpoch: 1,
        publicKeys: subject.publicKeys,
        publish: ['a/#'],
        subscribe: [],
      };
      const signer = suite === 'falcon512' ? falcon512 : falcon1024;
      const delta = await counted(() => {
        const cas = [
          CertificateAuthority.generate(`ca-${suite}`, { suite }),
          CertificateAuthority.generate(`ca-${suite}-seeded`, { suite, seed: seq(32, 7) }),
          CertificateAuthority.fromKeys(`ca-${suite}-stored`, suite, signer.keygen()),
        ];
        for (const ca of cas) {
          for (const options of [{}, { signingSeed: seq(88, 3) }]) {
            const cert = issueCertificate(ca, fields, options);
            verifyCertificate(cert, ca.trustAnchor);
            const list = issueRevocationList(ca, { number: 1, issuedAt: Date.now(), entries: [{ kind: 'subject', subject: 'x' }] }, options);
            verifyRevocationList(list, ca.trustAnchor);
          }
          ca.destroy();
        }
      });
      expectExpandedOnly(delta);
      expect(delta.pqc_sign_expanded).toBeGreaterThanOrEqual(3 * 4);
      subject.destroy();
    });
  }

  it('identities, generated and imported, sign and announce through their expanded keys', async () => {
    const ca = CertificateAuthority.generate('ca-identities');
    const delta = await counted(async () => {
      const plc = await generateIdentity('plc-sk', { seed: seq(32, 1) });
      const imported = await importIdentity(await exportIdentity(plc));
      for (const identity of [plc, imported]) {
        const cert = issueCertificate(ca, {
          subject: identity.id,
          serial: 1,
          notBefore: Date.now() - DAY,
          notAfter: Date.now() + DAY,
          keyEpoch: 1,
          publicKeys: identity.publicKeys,
          publish: [],
          subscribe: [],
        });
        createAnnouncement(identity, cert);
        createAnnouncement(identity, cert, { signingSeed: seq(88, 9) });
        identity.sign(text('m'));
        identity.destroy();
      }
    });
    expectExpandedOnly(delta);
    ca.destroy();
  });

  it('clients over Aedes (announcements, key requests, grants, group, direct and amortised messages, a revocation list)', async () => {
    const delta = await counted(async () => {
      const fleet = setup.fleet();
      const pub = await setup.open(await fleet.member('sk-pub', { publish: ['sk/#', 'cmd/#'] }));
      const amPub = await setup.open(await fleet.member('sk-am-pub', { publish: ['am/#'] }), { amortise: { maxBatch: 4, maxDelayMs: 20 } });
      const sub = await setup.open(await fleet.member('sk-sub', { subscribe: ['sk/#', 'cmd/sk-sub', 'am/#'] }), { acceptAmortised: { holdMs: 2_000 } });
      const got: string[] = [];
      sub.on('message', (_topic, payload) => got.push(str(payload)));
      await sub.subscribeAsync(['sk/#', 'cmd/sk-sub', 'am/#'], { qos: 1 });
      for (let i = 0; i < 3; i++) await pub.publishAsync('sk/x', text(`g${i}`), { qos: 1 });
      await until(() => pub.certificateOf('sk-sub') !== undefined, 'the publisher to learn sk-sub');
      await pub.publishAsync('cmd/sk-sub', text('d'), { qos: 1, to: 'sk-sub' });
      await Promise.all(Array.from({ length: 6 }, (_, i) => amPub.publishAsync('am/x', text(`a${i}`), { qos: 1 })));
      await until(() => got.length >= 10, 'ten messages');
      expect(got.sort()).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'd', 'g0', 'g1', 'g2']);
      fleet.revocationList(1, [{ kind: 'subject', subject: 'nobody' }]);
    });
    expectExpandedOnly(delta);
  });

  it('nothing in this file signed through the dyn path except the instrument check', () => {
    // The first test made one pqc_sign and one pqc_sign_derand call on purpose.
    expect({ pqc_sign: calls.pqc_sign, pqc_sign_derand: calls.pqc_sign_derand }).toEqual({ pqc_sign: 1, pqc_sign_derand: 1 });
  });
});

// ---- static: no expression in src/ reaches Signer.sign ----

const root = fileURLToPath(new URL('../../', import.meta.url));
const FALCON_TS = join(root, 'bindings', 'falcon.ts');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** True if `symbol` is the `sign` member of the Signer interface of bindings/falcon.ts. */
function isSignerSign(symbol: ts.Symbol | undefined): boolean {
  return (symbol?.declarations ?? []).some(
    (d) =>
      d.getSourceFile().fileName === FALCON_TS.split(sep).join('/') &&
      ts.isInterfaceDeclaration(d.parent) &&
      d.parent.name.text === 'Signer',
  );
}

/** Every place in `files` (absolute paths; `extra` adds virtual files) that reaches Signer.sign or names a raw dyn entry. */
function dynSigningSites(files: readonly string[], extra: Readonly<Record<string, string>> = {}): string[] {
  const { config } = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root);
  const host = ts.createCompilerHost(options);
  const norm = (p: string): string => p.split(sep).join('/');
  const virtual = new Map(Object.entries(extra).map(([p, t]) => [norm(p), t]));
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, lang, ...rest) => {
    const t = virtual.get(norm(name));
    return t !== undefined ? ts.createSourceFile(name, t, lang, true) : getSourceFile.call(host, name, lang, ...rest);
  };
  host.fileExists = (name) => virtual.has(norm(name)) || fileExists.call(host, name);
  host.readFile = (name) => virtual.get(norm(name)) ?? readFile.call(host, name);
  const wanted = new Set([...files, ...Object.keys(extra)].map(norm));
  const program = ts.createProgram([...wanted], { ...options, noEmit: true }, host);
  const checker = program.getTypeChecker();
  const sites: string[] = [];
  for (const source of program.getSourceFiles()) {
    if (!wanted.has(norm(source.fileName))) continue;
    const where = (node: ts.Node): string =>
      `${relative(root, source.fileName).split(sep).join('/')}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`;
    const visit = (node: ts.Node): void => {
      let name: ts.Node | undefined;
      if (ts.isPropertyAccessExpression(node) && node.name.text === 'sign') name = node.name;
      else if (ts.isElementAccessExpression(node) && ts.isStringLiteralLike(node.argumentExpression) && node.argumentExpression.text === 'sign') {
        name = node.argumentExpression;
      } else if (ts.isBindingElement(node) && (node.propertyName ?? node.name).getText(source) === 'sign') {
        // const { sign } = falcon512: the property of the destructured type.
        const type = checker.getTypeAtLocation(node.parent);
        if (isSignerSign(type.getProperty('sign'))) sites.push(`${where(node)} (destructured)`);
      }
      if (name !== undefined && isSignerSign(checker.getSymbolAtLocation(name))) sites.push(where(node));
      if (ts.isIdentifier(node) && /^pqc_sign(_derand)?$/.test(node.text)) sites.push(`${where(node)} (${node.text})`);
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return sites.sort();
}

const PROBE = join(root, 'src', '__dyn_signing_probe__.ts'); // virtual: never written to disk
const PROBE_TEXT = [
  "import { falcon512, type Signer } from '../bindings/index.js';",
  "import { SIGNATURE_SUITES } from './certs/suites.js';",
  'const sk = new Uint8Array(1281);',
  'falcon512.sign(new Uint8Array(1), sk);', // 4
  'const anySigner: Signer = SIGNATURE_SUITES.falcon1024.signer;',
  'anySigner.sign(new Uint8Array(1), sk);', // 6
  "SIGNATURE_SUITES['falcon512'].signer['sign'](new Uint8Array(1), sk);", // 7
  'const { sign } = falcon512;', // 8
  'export const f = sign;',
  'falcon512.expand(sk).sign(new Uint8Array(1));', // the expanded key: not the dyn path
  'export const g = (core: { fn: { pqc_sign_derand: () => number } }) => core.fn.pqc_sign_derand();', // 11: two names
  'export const h = { sign: (m: Uint8Array) => m }.sign(sk);', // not a Signer
].join('\n');

describe('signing with a secret key, in the source', () => {
  // One program (type-checked once) for src/ and the probe.
  let sites: string[] | undefined;
  const allSites = (): string[] => (sites ??= dynSigningSites(tsFiles(join(root, 'src')), { [PROBE]: PROBE_TEXT }));

  it('the checker finds every way of reaching Signer.sign (a probe file)', () => {
    expect(allSites().filter((s) => s.startsWith('src/__dyn_signing_probe__.ts:'))).toEqual([
      'src/__dyn_signing_probe__.ts:11 (pqc_sign_derand)',
      'src/__dyn_signing_probe__.ts:11 (pqc_sign_derand)',
      'src/__dyn_signing_probe__.ts:4',
      'src/__dyn_signing_probe__.ts:6',
      'src/__dyn_signing_probe__.ts:7',
      'src/__dyn_signing_probe__.ts:8 (destructured)',
    ]);
  });

  it('no file in src/ signs through the dyn path', () => {
    expect(tsFiles(join(root, 'src')).length).toBeGreaterThan(60); // the walk found the tree
    expect(allSites().filter((s) => !s.startsWith('src/__dyn_signing_probe__.ts:'))).toEqual([]);
  });

  it('the bindings sign through the dyn path only in Signer.sign itself', () => {
    const raw = tsFiles(join(root, 'bindings')).flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .flatMap((line, i) => (/\bfn\.pqc_sign(_derand)?\(/.test(line) ? [`${relative(root, f).split(sep).join('/')}:${i + 1}`] : [])),
    );
    expect(raw.map((s) => s.split(':')[0])).toEqual(['bindings/falcon.ts', 'bindings/falcon.ts']);
  });
});
