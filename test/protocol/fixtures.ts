// Shared, deterministic keys and helpers for the protocol tests: one CA, a few
// identities with certificates, a trust store. Made once per test file (Falcon
// keygen is ~11 ms each).
import { init } from '../../bindings/index.js';
import { CertificateAuthority, issueCertificate, type Certificate, type CertificateFields } from '../../src/certs/certificate.js';
import { issueRevocationList, type RevocationEntry } from '../../src/certs/revocation.js';
import { TrustStore } from '../../src/certs/trust-store.js';
import type { Clock } from '../../src/clock.js';
import { SecurityError, type ReasonCode } from '../../src/errors.js';
import { generateIdentity, type Identity } from '../../src/identity/index.js';
import { ReplayGuard, type ReplayVerdict, type StreamKey } from '../../src/replay/guard.js';
import type { ReplayCheck } from '../../src/protocol/envelope.js';
import { KeyManager, type KeyManagerOptions } from '../../src/protocol/key-manager.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { seq as bytesSeq } from '../support/helpers.js';

/** 2027-01-15T08:00:00Z: every certificate is valid around it. */
export const T0 = Date.UTC(2027, 0, 15, 8);
export const DAY = 86_400_000;

export interface Party {
  readonly identity: Identity;
  readonly cert: Certificate;
}

export interface World {
  readonly ca: CertificateAuthority;
  /** Publisher: plant/line1/# and plant/line1/temp (two channels), commands to itself. */
  readonly plc: Party;
  /** Subscriber with plant/# (covers every channel of plc). */
  readonly hmi: Party;
  /** Subscriber with plant/line1/# only. */
  readonly hmi2: Party;
  /** Subscriber allowed only plant/line1/temp. */
  readonly guest: Party;
  /** An authorised insider who also publishes on plant/line1/# (tries to forge plc's messages). */
  readonly mallory: Party;
  readonly all: readonly Party[];
  /** A fresh trust store holding every certificate above. */
  trust(): Promise<TrustStore>;
  /** A revocation list number `n` revoking `subjects`, signed by the CA. */
  revocationList(n: number, subjects: readonly string[]): Uint8Array;
  issue(identity: Identity, overrides: Partial<CertificateFields>): Certificate;
}

let cached: Promise<World> | undefined;

export function world(): Promise<World> {
  cached ??= (async () => {
    await init();
    const ca = CertificateAuthority.generate('root-ca', { seed: bytesSeq(32, 200) });
    const fields = (identity: Identity, overrides: Partial<CertificateFields>): CertificateFields => ({
      subject: identity.id,
      serial: 1,
      notBefore: T0 - 30 * DAY,
      notAfter: T0 + 365 * DAY,
      keyEpoch: 1,
      publicKeys: identity.publicKeys,
      publish: [],
      subscribe: [],
      ...overrides,
    });
    const issue = (identity: Identity, overrides: Partial<CertificateFields>): Certificate =>
      issueCertificate(ca, fields(identity, overrides));
    const party = async (id: string, n: number, overrides: Partial<CertificateFields>): Promise<Party> => {
      const identity = await generateIdentity(id, { seed: bytesSeq(32, n) });
      return { identity, cert: issue(identity, overrides) };
    };
    const plc = await party('plc-1', 1, {
      publish: ['plant/line1/#', 'plant/line1/temp', 'plant/status/plc-1'],
      subscribe: ['plant/cmd/plc-1'],
    });
    const hmi = await party('hmi-1', 2, { publish: ['plant/cmd/#'], subscribe: ['plant/#'] });
    const hmi2 = await party('hmi-2', 3, { publish: [], subscribe: ['plant/line1/#'] });
    const guest = await party('guest-1', 4, { publish: [], subscribe: ['plant/line1/temp'] });
    const mallory = await party('mallory', 5, { publish: ['plant/line1/#', 'plant/cmd/#'], subscribe: ['plant/#'] });
    const all = [plc, hmi, hmi2, guest, mallory];
    return {
      ca,
      plc,
      hmi,
      hmi2,
      guest,
      mallory,
      all,
      issue,
      async trust() {
        const store = await TrustStore.open(ca.trustAnchor);
        for (const p of all) await store.addCertificate(p.cert, T0);
        return store;
      },
      revocationList(n, subjects) {
        const entries: RevocationEntry[] = subjects.map((subject) => ({ kind: 'subject', subject }));
        return issueRevocationList(ca, { number: n, issuedAt: T0, entries }).bytes;
      },
    };
  })();
  return cached;
}

/** A settable clock starting at T0. */
export function manualClock(start = T0): Clock & { set(t: number): void; advance(ms: number): void } {
  let now = start;
  const clock = (() => now) as Clock & { set(t: number): void; advance(ms: number): void };
  clock.set = (t) => {
    now = t;
  };
  clock.advance = (ms) => {
    now += ms;
  };
  return clock;
}

/** A ReplayGuard wrapped to count accept() calls (proves the window did not move). */
export class CountingReplay implements ReplayCheck {
  accepts = 0;
  constructor(readonly inner: ReplayGuard) {}
  static async open(clock: Clock, maxAgeMs = 5 * 60_000, clockSkewMs = 30_000): Promise<CountingReplay> {
    return new CountingReplay(await ReplayGuard.open({ clock, maxAgeMs, clockSkewMs }));
  }
  check(key: StreamKey, seq: number, timestampMs: number): ReplayVerdict {
    return this.inner.check(key, seq, timestampMs);
  }
  async accept(key: StreamKey, seq: number, timestampMs?: number): Promise<void> {
    this.accepts++;
    await this.inner.accept(key, seq, timestampMs);
  }
  forgetEpoch(sender: string, channel: string, epochBelow: number): Promise<void> {
    return this.inner.forgetEpoch(sender, channel, epochBelow);
  }
}

/** The SecurityError code of a rejected promise, 'ok' if it resolves; anything else is rethrown. */
export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<ReasonCode | 'ok'> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'ok';
  } catch (err) {
    if (err instanceof SecurityError) return err.code;
    throw err;
  }
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/**
 * Key managers on fresh memory storage for one test file: `open` opens one (regrants not rate-limited unless
 * `extra` says so), `closeAll` (in afterEach) closes every one opened.
 */
export function keyManagers(): {
  open(party: Party, trust: TrustStore, clock: Clock, extra?: Partial<KeyManagerOptions>): Promise<KeyManager>;
  closeAll(): Promise<void>;
} {
  const opened: KeyManager[] = [];
  return {
    async open(party, trust, clock, extra = {}) {
      const m = await KeyManager.open({ identity: party.identity, certificate: party.cert, trust, storage: new MemoryStorage(), clock, regrantIntervalMs: 0, ...extra });
      opened.push(m);
      return m;
    },
    async closeAll() {
      for (const m of opened.splice(0)) await m.close();
    },
  };
}
