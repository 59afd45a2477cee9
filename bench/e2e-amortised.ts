// Amortised mode end to end (docs/PROTOCOL.md, "Amortised mode"), the secure
// client's mode for high-rate channels, hence the figures "e2e.secure.*" (the
// performance issue: "reach the targets ... if still short, an optional
// amortised origin-authentication mode"; per-message signatures are
// "e2e.signed.*", bench/e2e-secure.ts). Like
// bench/e2e-secure.ts (SecureMqttClient, MQTT 5, QoS 1, 256-byte payloads,
// Mosquitto on 127.0.0.1, window 16), but the publisher seals with
// `amortise: BENCH_AMORTISE` (256 messages or 25 ms; no per-message signature; one
// Falcon-signed batch manifest per batch, on the same topic) and the
// subscriber delivers a message once its manifest verified. The publisher
// signs its manifests on its own thread; "e2e.secureWorker.*" is the same
// run with the manifests signed on a worker thread (SIGN_ON_WORKER).
//
// Measured E2E_ROUNDS times on the same clients after the warm-up, the median round kept (as e2e.plain),
// each round paired with a plain mqtt.js round for "e2e.secure.ratioPlain" (bench/e2e-secure.ts, PairedRounds).
//
// Figures: "e2e.secure.msgPerSec", "e2e.secure.p50ms", "e2e.secure.p99ms"
// (publish call to verified delivery: includes waiting for the batch's
// manifest), and, without MQTT, "envelope.sealAmortised256.p50ms" /
// "envelope.openAmortised256.p50ms" (KeyManager.sealData / openAmortised of a
// 256-byte payload; the manifest's signature and verification, one per 64
// messages, are reported as "envelope.manifest64.signMs" / "verifyMs").
import { SIGN_ON_WORKER, measureE2e, type E2eRun } from './e2e-secure.js';
import { BENCH_AMORTISE, E2E_ROUNDS } from './mqtt-load.js';
import { envelopePair } from './envelope-pair.js';
import { median } from './stats.js';
import { verifyManifest } from '../src/protocol/amortised.js';

export interface E2eAmortisedOptions {
  readonly quick?: boolean;
  readonly log?: (message: string) => void;
}

export async function run(opts: E2eAmortisedOptions = {}): Promise<Record<string, number>> {
  const e2e = {
    ...(await measureE2e(amortisedRun(opts, 'secure', {}))),
    ...(await measureE2e(amortisedRun(opts, 'secureWorker', SIGN_ON_WORKER))),
  };
  return { ...(await envelopeFigures(opts.quick ?? false)), ...e2e };
}

function amortisedRun(opts: E2eAmortisedOptions, name: string, signing: E2eRun['publisherOptions']): E2eRun {
  return {
    ...opts,
    name,
    rounds: E2E_ROUNDS,
    publisherOptions: { ...signing, amortise: BENCH_AMORTISE },
    subscriberOptions: { acceptAmortised: true },
    // The key first: amortised messages of an epoch the subscriber has no key for are lost (UNKNOWN_EPOCH).
    async ready(pub, sub, topic, publisherId) {
      const channel = pub.keyManager!.channelFor(topic)!;
      const deadline = Date.now() + 30_000;
      while ((sub.keyManager?.heldEpochs(publisherId, channel).length ?? 0) === 0) {
        if (Date.now() > deadline) throw new Error('e2e-amortised: no key grant within 30 s');
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

/** Seal / open latency of amortised envelopes through the KeyManager (no MQTT), and one manifest of 64. */
async function envelopeFigures(quick: boolean): Promise<Record<string, number>> {
  const messages = quick ? 256 : 2048;
  const pair = await envelopePair({ pub: { amortise: { maxBatch: 64, maxDelayMs: 60_000 } }, sub: { acceptAmortised: { maxHeld: 100_000 } } });
  const { pub, sub } = pair;
  // The two parties' own certificates, as the CertificateSource verifyManifest needs.
  const trust = { get: (id: string) => (id === pub.identity.id ? pub.certificate : sub.certificate) };
  try {
    const payload = new Uint8Array(256).fill(0x5a);
    const topic = pair.topic;
    const sealMs: number[] = [];
    const openMs: number[] = [];
    const signMs: number[] = [];
    const verifyMs: number[] = [];
    for (let done = 0; done < messages; done += 64) {
      const batch: Uint8Array[] = [];
      for (let i = 0; i < 64; i++) {
        const t = performance.now();
        batch.push(await pub.sealData(topic, payload));
        sealMs.push(performance.now() - t);
      }
      let t = performance.now();
      const [manifest] = pub.takeManifests(true);
      signMs.push(performance.now() - t);
      for (const b of batch) {
        t = performance.now();
        await sub.openAmortised(b, topic);
        openMs.push(performance.now() - t);
      }
      t = performance.now();
      verifyManifest(manifest!.bytes, { receivedTopic: topic, trust, now: Date.now(), maxAgeMs: 60_000, clockSkewMs: 30_000 });
      verifyMs.push(performance.now() - t);
      const r = await sub.acceptManifest(manifest!.bytes, topic);
      if (r.released.length !== 64) throw new Error(`amortised envelope bench: ${r.released.length} of 64 released`);
    }
    return {
      'envelope.sealAmortised256.p50ms': median(sealMs),
      'envelope.openAmortised256.p50ms': median(openMs),
      'envelope.manifest64.signMs': median(signMs),
      'envelope.manifest64.verifyMs': median(verifyMs),
    };
  } finally {
    await pair.close();
  }
}
