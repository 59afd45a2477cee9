// The wasm core against the other implementations. Per operation, every implementation's rounds are
// interleaved (bench/stats.ts interleave()), so that the ratios survive a shared, noisy machine.
//   ours               pqc-iiot's bindings (bindings/index.ts over wasm/pqc.wasm). Falcon signs with a key expanded
//                      once (expand(), as the SDK signs) and verifies with a public key prepared once (verifier():
//                      decoded and in NTT form); the plain verify(sig, msg, pk) decodes the key on every call
//   noble              @noble/post-quantum 0.7.1 (pure JavaScript)
//   pqcleanWasm        the npm `pqclean` package's own wasm backend, its classic synchronous API
//                      (KEM#keypair/generateKey/decryptKey, Sign#keypair/sign/verify) on the main thread:
//                      the same shape of call as ours
//   pqcleanWasmWorker  the same backend's key-centric API, which runs every call in a worker thread and
//                      returns a Promise; timed one call at a time, each awaited (latency-bound throughput)
//   native             the same pinned C sources, gcc -O3, in a child process (bench/native.ts, bench/native/bench.c)
//   nativeFp           Falcon-512 sign and verify only: our f64 Falcon layer (the wasm build's C) natively, gcc -O3,
//                      signing and verifying as ours does (expanded / prepared key; bench/native-fp.ts)
//   liboqsJs           Open Quantum Safe's liboqs via @oqs/liboqs-js 0.15.1 (Emscripten), its synchronous API on the
//                      main thread (bench/liboqs-js.ts)
// Keys: "<alg>.<op>.<impl>" in ops/s (median of the rounds); bench/run.ts derives the ratios. Also
// "core.roundSpread": the median over all figures of (fastest - slowest round) / median, a noise gauge
// (a quiet machine gives a few hundredths; a shared one much more).
// Inputs: one key pair per implementation and algorithm, encapsulation to that key, decapsulation of one
// ciphertext, signing of one 256-byte message, verification of one signature. Each implementation's result
// is checked once before it is timed.

import { createRequire } from 'node:module';
import { freeLiboqs, liboqsKem, liboqsSign } from './liboqs-js.js';
import { NativeServer, nativeOps } from './native.js';
import { nativeFpOps, startNativeFp } from './native-fp.js';
import { asyncContender, interleave, median, syncContender, type Contender } from './stats.js';
import type { BenchOptions, BenchResult } from './types.js';

type Bytes = Uint8Array;

export interface KemImpl {
  keygen(): { pk: Bytes; sk: Bytes };
  encaps(pk: Bytes): { ct: Bytes; ss: Bytes };
  decaps(ct: Bytes, sk: Bytes): Bytes;
}
export interface SignImpl {
  keygen(): { pk: Bytes; sk: Bytes };
  sign(msg: Bytes, sk: Bytes): Bytes;
  verify(sig: Bytes, msg: Bytes, pk: Bytes): boolean;
}
/** The worker API: every call is a Promise. */
interface AsyncKemImpl {
  keygen(): Promise<{ encaps(): Promise<{ ct: Bytes; ss: Bytes }>; decaps(ct: Bytes): Promise<Bytes> }>;
}
interface AsyncSignImpl {
  keygen(): Promise<{ sign(msg: Bytes): Promise<Bytes>; verify(sig: Bytes, msg: Bytes): Promise<boolean> }>;
}

// The pqclean package has no type declarations: the parts used here.
interface PqcleanKem {
  keypair(): { publicKey: Bytes; privateKey: Bytes };
  generateKey(publicKey: Bytes): { key: Bytes; encryptedKey: Bytes };
  decryptKey(privateKey: Bytes, encryptedKey: Bytes): Bytes;
}
interface PqcleanSign {
  keypair(): { publicKey: Bytes; privateKey: Bytes };
  sign(privateKey: Bytes, message: Bytes): Bytes;
  verify(publicKey: Bytes, message: Bytes, signature: Bytes): boolean;
}
interface PqcleanWasm {
  KEM: new (algorithm: string) => PqcleanKem;
  Sign: new (algorithm: string) => PqcleanSign;
  kem: {
    generateKeyPair(algorithm: string): Promise<{
      publicKey: { generateKey(): Promise<{ key: ArrayBuffer; encryptedKey: ArrayBuffer }> };
      privateKey: { decryptKey(encryptedKey: Bytes): Promise<ArrayBuffer> };
    }>;
  };
  sign: {
    generateKeyPair(algorithm: string): Promise<{
      publicKey: { verify(message: Bytes, signature: Bytes): Promise<boolean> };
      privateKey: { sign(message: Bytes): Promise<ArrayBuffer> };
    }>;
  };
}

const require = createRequire(import.meta.url);
let pqcleanWasm: PqcleanWasm | undefined;
/** Loaded on first use: requiring it compiles the package's 351 KB module (every PQClean algorithm). */
const pqclean = (): PqcleanWasm => (pqcleanWasm ??= require('pqclean/wasm/') as PqcleanWasm);

type KemName = 'mlkem512' | 'mlkem768' | 'mlkem1024';
type SignName = 'falcon512' | 'falcon1024';
type Impl = 'ours' | 'noble' | 'pqcleanWasm' | 'liboqsJs';

/** What is measured: every key listed here (and selected by --only) gets a figure. */
const kemMatrix: Record<KemName, readonly Impl[]> = {
  mlkem512: ['ours', 'noble'],
  mlkem768: ['ours', 'noble', 'pqcleanWasm', 'liboqsJs'],
  mlkem1024: ['ours', 'noble'],
};
const signMatrix: Record<SignName, { readonly impls: readonly Impl[]; readonly ops: readonly SignOp[] }> = {
  falcon512: { impls: ['ours', 'noble', 'pqcleanWasm', 'liboqsJs'], ops: ['keygen', 'sign', 'verify'] },
  falcon1024: { impls: ['ours'], ops: ['keygen', 'sign', 'verify'] },
};
const workerKeys: readonly string[] = ['mlkem768.encaps', 'falcon512.sign'];

type KemOp = 'keygen' | 'encaps' | 'decaps';
type SignOp = 'keygen' | 'sign' | 'verify';
const kemOps: readonly KemOp[] = ['keygen', 'encaps', 'decaps'];

const pqcleanName = (name: KemName | SignName): string => name.replace(/^(mlkem|falcon)/, (p) => (p === 'mlkem' ? 'ml-kem-' : 'falcon-'));

async function kemImpl(impl: Impl, name: KemName): Promise<KemImpl> {
  switch (impl) {
    case 'ours': {
      const b = await import('../bindings/index.js');
      const kem = { mlkem512: b.mlKem512, mlkem768: b.mlKem768, mlkem1024: b.mlKem1024 }[name];
      return {
        keygen: () => {
          const k = kem.keygen();
          return { pk: k.publicKey, sk: k.secretKey };
        },
        encaps: (pk) => {
          const e = kem.encapsulate(pk);
          return { ct: e.ciphertext, ss: e.sharedSecret };
        },
        decaps: (ct, sk) => kem.decapsulate(ct, sk),
      };
    }
    case 'noble': {
      const n = await import('@noble/post-quantum/ml-kem.js');
      const kem = { mlkem512: n.ml_kem512, mlkem768: n.ml_kem768, mlkem1024: n.ml_kem1024 }[name];
      return {
        keygen: () => {
          const k = kem.keygen();
          return { pk: k.publicKey, sk: k.secretKey };
        },
        encaps: (pk) => {
          const e = kem.encapsulate(pk);
          return { ct: e.cipherText, ss: e.sharedSecret };
        },
        decaps: (ct, sk) => kem.decapsulate(ct, sk),
      };
    }
    case 'pqcleanWasm': {
      const kem = new (pqclean().KEM)(pqcleanName(name));
      return {
        keygen: () => {
          const k = kem.keypair();
          return { pk: k.publicKey, sk: k.privateKey };
        },
        encaps: (pk) => {
          const e = kem.generateKey(pk);
          return { ct: e.encryptedKey, ss: e.key };
        },
        decaps: (ct, sk) => kem.decryptKey(sk, ct),
      };
    }
    case 'liboqsJs':
      return liboqsKem(name);
  }
}

async function signImpl(impl: Impl, name: SignName): Promise<SignImpl> {
  switch (impl) {
    case 'ours': {
      const b = await import('../bindings/index.js');
      const s = { falcon512: b.falcon512, falcon1024: b.falcon1024 }[name];
      // Ours signs as the SDK does: with the key expanded once (Identity.sign), the fast f64 build; and
      // verifies with the public key prepared once (verifier()), which the SDK is to use too.
      const expanded = new Map<Bytes, ReturnType<typeof s.expand>>();
      const prepared = new Map<Bytes, ReturnType<typeof s.verifier>>();
      return {
        keygen: () => {
          const k = s.keygen();
          return { pk: k.publicKey, sk: k.secretKey };
        },
        sign: (msg, sk) => {
          let key = expanded.get(sk);
          if (!key) expanded.set(sk, (key = s.expand(sk)));
          return key.sign(msg);
        },
        verify: (sig, msg, pk) => {
          let verifier = prepared.get(pk);
          if (!verifier) prepared.set(pk, (verifier = s.verifier(pk)));
          return verifier.verify(sig, msg);
        },
      };
    }
    case 'noble': {
      const n = await import('@noble/post-quantum/falcon.js');
      const s = { falcon512: n.falcon512, falcon1024: n.falcon1024 }[name];
      return {
        keygen: () => {
          const k = s.keygen();
          return { pk: k.publicKey, sk: k.secretKey };
        },
        sign: (msg, sk) => s.sign(msg, sk),
        verify: (sig, msg, pk) => s.verify(sig, msg, pk),
      };
    }
    case 'pqcleanWasm': {
      const s = new (pqclean().Sign)(pqcleanName(name));
      return {
        keygen: () => {
          const k = s.keypair();
          return { pk: k.publicKey, sk: k.privateKey };
        },
        sign: (msg, sk) => s.sign(sk, msg),
        verify: (sig, msg, pk) => s.verify(pk, msg, sig),
      };
    }
    case 'liboqsJs':
      return liboqsSign(name);
  }
}

function workerKem(name: KemName): AsyncKemImpl {
  return {
    keygen: async () => {
      const { publicKey, privateKey } = await pqclean().kem.generateKeyPair(pqcleanName(name));
      return {
        encaps: async () => {
          const e = await publicKey.generateKey();
          return { ct: new Uint8Array(e.encryptedKey), ss: new Uint8Array(e.key) };
        },
        decaps: async (ct) => new Uint8Array(await privateKey.decryptKey(ct)),
      };
    },
  };
}

function workerSign(name: SignName): AsyncSignImpl {
  return {
    keygen: async () => {
      const { publicKey, privateKey } = await pqclean().sign.generateKeyPair(pqcleanName(name));
      return {
        sign: async (msg) => new Uint8Array(await privateKey.sign(msg)),
        verify: (sig, msg) => publicKey.verify(msg, sig),
      };
    },
  };
}

const equal = (a: Bytes, b: Bytes): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** The signed message: 256 bytes (the native driver signs the same bytes). */
const message: Bytes = Uint8Array.from({ length: 256 }, (_, i) => i & 0xff);

interface KemSetup {
  readonly k: KemImpl;
  readonly pk: Bytes;
  readonly sk: Bytes;
  readonly ct: Bytes;
}
interface SignSetup {
  readonly s: SignImpl;
  readonly pk: Bytes;
  readonly sk: Bytes;
  readonly sig: Bytes;
}

async function setupKem(impl: Impl, name: KemName): Promise<KemSetup> {
  if (impl === 'ours') await (await import('../bindings/index.js')).init();
  const k = await kemImpl(impl, name);
  const { pk, sk } = k.keygen();
  const { ct, ss } = k.encaps(pk);
  if (!equal(k.decaps(ct, sk), ss)) throw new Error(`${name} ${impl}: decapsulation does not recover the shared secret`);
  return { k, pk, sk, ct };
}

async function setupSign(impl: Impl, name: SignName): Promise<SignSetup> {
  if (impl === 'ours') await (await import('../bindings/index.js')).init();
  const s = await signImpl(impl, name);
  const { pk, sk } = s.keygen();
  const sig = s.sign(message, sk);
  if (!s.verify(sig, message, pk)) throw new Error(`${name} ${impl}: a fresh signature does not verify`);
  return { s, pk, sk, sig };
}

async function workerContender(name: KemName | SignName, op: string): Promise<Contender> {
  const label = 'pqcleanWasmWorker';
  if (name.startsWith('mlkem')) {
    const k = await workerKem(name as KemName).keygen();
    const { ct, ss } = await k.encaps();
    if (!equal(await k.decaps(ct), ss)) throw new Error(`${name} ${label}: decapsulation does not recover the shared secret`);
    if (op === 'encaps') return asyncContender(label, () => k.encaps());
    if (op === 'decaps') return asyncContender(label, () => k.decaps(ct));
  } else {
    const s = await workerSign(name as SignName).keygen();
    const sig = await s.sign(message);
    if (!(await s.verify(sig, message))) throw new Error(`${name} ${label}: a fresh signature does not verify`);
    if (op === 'sign') return asyncContender(label, () => s.sign(message));
    if (op === 'verify') return asyncContender(label, () => s.verify(sig, message));
  }
  throw new Error(`no ${label} contender for ${name}.${op}`);
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const out: BenchResult = {};
  // Slow operations (noble's Falcon keygen, ~5/s) get longer rounds through plan.minOps and fewer
  // rounds through plan.maxTotalMs (bench/stats.ts).
  const { plan } = opts;
  let sink = 0;
  const consume = (r: unknown): void => {
    sink ^= r instanceof Uint8Array ? r[0]! : r ? 1 : 0;
  };
  let native: NativeServer | undefined;
  let nativeFp: NativeServer | undefined;
  const spreads: number[] = [];

  /** Every wanted implementation of one operation, measured with interleaved rounds. */
  const measure = async (name: KemName | SignName, op: string, own: Array<[Impl, () => Promise<() => unknown>]>): Promise<void> => {
    const contenders: Contender[] = [];
    for (const [impl, make] of own) {
      if (opts.wants(`${name}.${op}.${impl}`)) {
        const f = await make();
        contenders.push(syncContender(impl, () => consume(f())));
      }
    }
    if (nativeOps.includes(`${name}.${op}`) && opts.wants(`${name}.${op}.native`)) {
      native ??= await NativeServer.start(opts.log);
      contenders.push(native.contender(`${name}.${op}`));
    }
    if (nativeFpOps.includes(`${name}.${op}`) && opts.wants(`${name}.${op}.nativeFp`)) {
      nativeFp ??= await startNativeFp(opts.log);
      contenders.push(nativeFp.contender(`${name}.${op}`));
    }
    if (workerKeys.includes(`${name}.${op}`) && opts.wants(`${name}.${op}.pqcleanWasmWorker`)) {
      contenders.push(await workerContender(name, op));
    }
    if (contenders.length === 0) return;
    opts.log(`core: ${name}.${op}: ${contenders.map((c) => c.name).join(', ')}`);
    for (const [impl, m] of await interleave(contenders, plan)) {
      out[`${name}.${op}.${impl}`] = m.opsPerSec;
      spreads.push((Math.max(...m.rounds) - Math.min(...m.rounds)) / m.opsPerSec);
    }
  };

  try {
    for (const [name, impls] of Object.entries(kemMatrix) as Array<[KemName, readonly Impl[]]>) {
      const setups = new Map<Impl, Promise<KemSetup>>();
      const setup = (impl: Impl): Promise<KemSetup> => {
        if (!setups.has(impl)) setups.set(impl, setupKem(impl, name));
        return setups.get(impl)!;
      };
      for (const op of kemOps) {
        await measure(
          name,
          op,
          impls.map((impl) => [
            impl,
            async () => {
              const { k, pk, sk, ct } = await setup(impl);
              return op === 'keygen' ? () => k.keygen().pk : op === 'encaps' ? () => k.encaps(pk).ss : () => k.decaps(ct, sk);
            },
          ]),
        );
      }
    }
    for (const [name, { impls, ops }] of Object.entries(signMatrix) as Array<[SignName, (typeof signMatrix)[SignName]]>) {
      const setups = new Map<Impl, Promise<SignSetup>>();
      const setup = (impl: Impl): Promise<SignSetup> => {
        if (!setups.has(impl)) setups.set(impl, setupSign(impl, name));
        return setups.get(impl)!;
      };
      for (const op of ops) {
        await measure(
          name,
          op,
          impls.map((impl) => [
            impl,
            async () => {
              const { s, pk, sk, sig } = await setup(impl);
              return op === 'keygen'
                ? () => s.keygen().pk
                : op === 'sign'
                  ? () => s.sign(message, sk)
                  : () => s.verify(sig, message, pk);
            },
          ]),
        );
      }
    }
  } finally {
    await native?.close();
    await nativeFp?.close();
    freeLiboqs();
  }

  if (sink === 0.5) opts.log('unreachable'); // keeps the results observable
  // How noisy the machine was: the median over all figures of (slowest - fastest round) / median.
  if (spreads.length) out['core.roundSpread'] = median(spreads);
  return out;
}
