// The trust store: one trust anchor, the newest certificate of each subject,
// the newest revocation list, and the anti-rollback state that makes "newest"
// stick (highest key epoch and serial per subject, highest list number).
// Every input is fully verified before anything changes, mutations run one at
// a time, and with a Storage the new state is durable before it is used.

import { afinite } from '../../bindings/assert-sdk.js';
import { shake256 } from '../../bindings/index.js';
import { ConfigError, SecurityError, StorageError } from '../errors.js';
import type { Storage } from '../storage/types.js';
import { equalBytes } from '../wire/bytes.js';
import { encodeUtf8 } from '../wire/fields.js';
import { LABELS } from '../wire/labels.js';
import { decodeTrustAnchor, encodeTrustAnchor, sameTrustAnchor, verifyByAnchor, type TrustAnchor } from './authority.js';
import { decodeCertificate, mayPublish, maySubscribe, verifyCertificate, type Certificate } from './certificate.js';
import { isRevoked, revocationEntryFor, verifyRevocationList, type RevocationList } from './revocation.js';

export interface TrustStoreOptions {
  /** Where the state lives across restarts; without it the store is in memory only. */
  readonly storage?: Storage;
  /** Key prefix in `storage`. Default 'trust/'. */
  readonly prefix?: string;
}

/** What applying a revocation list changed. */
export interface RevocationUpdate {
  /** The list's number. */
  readonly number: number;
  /** False if this exact list was already applied (a retained redelivery). */
  readonly applied: boolean;
  /** Subjects whose current certificate this list revokes and the previous one did not. */
  readonly newlyRevoked: readonly string[];
}

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Verified certificates by subject id, the current revocation list, and the
 * anti-rollback state. Open one with `TrustStore.open(anchor, { storage })`.
 */
export class TrustStore {
  readonly anchor: TrustAnchor;
  readonly #storage: Storage | undefined;
  readonly #prefix: string;
  readonly #certs = new Map<string, Certificate>();
  #list: RevocationList | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(anchor: TrustAnchor, options: TrustStoreOptions) {
    this.anchor = Object.freeze({ id: anchor.id, suite: anchor.suite, publicKey: anchor.publicKey.slice() });
    this.#storage = options.storage;
    this.#prefix = options.prefix ?? 'trust/';
  }

  /**
   * A store for `anchor`, loading any state persisted in `options.storage`.
   * Persisted certificates and lists are verified again on load.
   *
   * @throws TypeError/RangeError for an invalid anchor; ConfigError('ANCHOR_MISMATCH')
   *   if the storage belongs to another anchor; StorageError('CORRUPT') if
   *   persisted state does not verify.
   */
  static async open(anchor: TrustAnchor, options: TrustStoreOptions = {}): Promise<TrustStore> {
    encodeTrustAnchor(anchor); // validates
    const store = new TrustStore(anchor, options);
    await store.#load();
    return store;
  }

  #key(name: string): string {
    return `${this.#prefix}${name}`;
  }

  #certKey(subject: string): string {
    // Hashed so any subject id is a short, safe storage key.
    return this.#key(`cert/${hex(shake256(encodeUtf8(subject), 16))}`);
  }

  async #load(): Promise<void> {
    const storage = this.#storage;
    if (!storage) return;
    const anchorKey = this.#key('anchor');
    const storedAnchor = await storage.get(anchorKey);
    if (storedAnchor === undefined) {
      await storage.set(anchorKey, encodeTrustAnchor(this.anchor));
    } else {
      let same = false;
      try {
        same = sameTrustAnchor(decodeTrustAnchor(storedAnchor), this.anchor);
      } catch (err) {
        throw new StorageError('CORRUPT', `trust store: the stored trust anchor does not parse`, { cause: err });
      }
      if (!same) throw new ConfigError('ANCHOR_MISMATCH', 'trust store: the storage holds state for another trust anchor');
    }
    for (const key of await storage.keys(this.#key('cert/'))) {
      const bytes = await storage.get(key);
      if (bytes === undefined) continue;
      let cert: Certificate;
      try {
        cert = decodeCertificate(bytes);
        if (cert.issuer !== this.anchor.id || !verifyByAnchor(this.anchor, LABELS.certificate, cert.tbs, cert.signature)) {
          throw new Error('signature does not verify');
        }
        if (this.#certKey(cert.subject) !== key) throw new Error('stored under the wrong key');
      } catch (err) {
        throw new StorageError('CORRUPT', `trust store: stored certificate ${key} is invalid`, { cause: err });
      }
      this.#certs.set(cert.subject, cert);
    }
    const listBytes = await storage.get(this.#key('revocation-list'));
    if (listBytes !== undefined) {
      try {
        this.#list = verifyRevocationList(listBytes, this.anchor);
      } catch (err) {
        throw new StorageError('CORRUPT', 'trust store: the stored revocation list is invalid', { cause: err });
      }
    }
  }

  /** Runs mutations one at a time; a failure never blocks the next one. */
  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** The current revocation list, if any. */
  get revocationList(): RevocationList | undefined {
    return this.#list;
  }

  /**
   * Whether the current revocation list can still be relied on at `now`: 'none' (no list yet), 'fresh' (before its
   * nextUpdate + `graceMs`) or 'stale' (past it, or a version 1 list, which has no nextUpdate): a newer list may
   * exist that the broker withholds.
   */
  revocationStatus(now: number, graceMs: number): 'none' | 'fresh' | 'stale' {
    const list = this.#list;
    if (list === undefined) return 'none';
    return list.nextUpdate !== undefined && now <= list.nextUpdate + graceMs ? 'fresh' : 'stale';
  }

  /** The highest revocation list number applied, if any: lower ones are ROLLBACK. */
  get revocationListNumber(): number | undefined {
    return this.#list?.number;
  }

  /** The highest key epoch accepted for `subject`, if any: lower ones are ROLLBACK. */
  highestKeyEpoch(subject: string): number | undefined {
    return this.#certs.get(subject)?.keyEpoch;
  }

  /** Subject ids with a stored certificate (valid or not). */
  subjects(): string[] {
    return [...this.#certs.keys()];
  }

  /** The stored certificate of `subject` without any check (for inspection; use get() to trust it). */
  peek(subject: string): Certificate | undefined {
    return this.#certs.get(subject);
  }

  /** True if the current revocation list revokes `cert`. */
  isRevoked(cert: Pick<Certificate, 'subject' | 'serial' | 'keyEpoch'>): boolean {
    return isRevoked(this.#list, cert);
  }

  /**
   * Every check addCertificate makes, without storing anything: parse
   * (MALFORMED, TOO_LARGE, UNSUPPORTED_VERSION), issuer and signature
   * (BAD_SIGNATURE), validity window at `now` (EXPIRED), current revocation
   * list (REVOKED), and anti-rollback (ROLLBACK: a lower key epoch than
   * accepted for the subject, or the same epoch with a lower serial, or a
   * different certificate, by what was signed, with the same epoch and serial).
   */
  check(cert: Uint8Array | Certificate, now: number = Date.now()): Certificate {
    const c = verifyCertificate(cert, this.anchor, { now });
    const sender = c.subject;
    const entry = this.#list && revocationEntryFor(this.#list, c);
    if (entry) {
      throw new SecurityError('REVOKED', { sender, detail: `certificate ${c.serial} of ${sender} is revoked (list ${this.#list?.number}, ${entry.kind})` });
    }
    const known = this.#certs.get(c.subject);
    if (known) {
      if (c.keyEpoch < known.keyEpoch) {
        throw new SecurityError('ROLLBACK', { sender, detail: `key epoch ${c.keyEpoch} is lower than ${known.keyEpoch}, already accepted` });
      }
      if (c.keyEpoch === known.keyEpoch) {
        if (c.serial < known.serial) {
          throw new SecurityError('ROLLBACK', { sender, detail: `serial ${c.serial} is lower than ${known.serial} for key epoch ${c.keyEpoch}` });
        }
        // What was signed decides, not the signature: the CA may sign the same certificate again (Falcon is randomised).
        if (c.serial === known.serial && !equalBytes(c.tbs, known.tbs)) {
          throw new SecurityError('ROLLBACK', { sender, detail: `a different certificate with serial ${c.serial} was already accepted` });
        }
      }
    }
    return c;
  }

  /**
   * Verifies a certificate (see check()) and makes it the subject's current
   * one. Re-adding the current certificate is a no-op. Nothing changes unless
   * every check passes; with a storage, the certificate is persisted before
   * it is used.
   *
   * @returns the verified certificate.
   * @throws SecurityError (codes as for check()); a storage failure as thrown by the storage.
   */
  addCertificate(cert: Uint8Array | Certificate, now: number = Date.now()): Promise<Certificate> {
    return this.#exclusive(async () => {
      const c = this.check(cert, now);
      const known = this.#certs.get(c.subject);
      if (known && equalBytes(known.tbs, c.tbs)) return known;
      if (this.#storage) await this.#storage.set(this.#certKey(c.subject), c.bytes);
      this.#certs.set(c.subject, c);
      return c;
    });
  }

  /**
   * The current certificate of `subjectId`, if it is trusted at `now`.
   *
   * @throws SecurityError UNKNOWN_SENDER (no certificate), REVOKED, EXPIRED
   *   (outside its validity window), in that order.
   */
  get(subjectId: string, now: number = Date.now()): Certificate {
    afinite(now, 'now');
    const cert = typeof subjectId === 'string' ? this.#certs.get(subjectId) : undefined;
    const sender = typeof subjectId === 'string' ? subjectId : undefined;
    if (!cert) throw new SecurityError('UNKNOWN_SENDER', { sender, detail: `no certificate for ${String(subjectId)}` });
    if (this.isRevoked(cert)) throw new SecurityError('REVOKED', { sender, detail: `the certificate of ${subjectId} is revoked` });
    if (now < cert.notBefore) throw new SecurityError('EXPIRED', { sender, detail: `the certificate of ${subjectId} is not valid yet` });
    if (now > cert.notAfter) throw new SecurityError('EXPIRED', { sender, detail: `the certificate of ${subjectId} has expired` });
    return cert;
  }

  /**
   * Verifies a revocation list (issuer and signature: BAD_SIGNATURE; parse
   * errors) and, if its number is higher than the current list's, makes it
   * the current list. The same list again is a no-op (`applied: false`); a
   * lower number, or a different list with the same number, is ROLLBACK.
   *
   * @returns the subjects whose current certificate became revoked (rotate
   *   group keys away from them).
   */
  applyRevocationList(list: Uint8Array | RevocationList): Promise<RevocationUpdate> {
    return this.#exclusive(async () => {
      const l = verifyRevocationList(list, this.anchor);
      const current = this.#list;
      if (current) {
        if (l.number < current.number) {
          throw new SecurityError('ROLLBACK', { detail: `revocation list ${l.number} is older than ${current.number}` });
        }
        if (l.number === current.number) {
          // The same list again (a retained redelivery, or the CA signing it again): what was signed decides.
          if (equalBytes(l.tbs, current.tbs)) return Object.freeze({ number: l.number, applied: false, newlyRevoked: [] });
          throw new SecurityError('ROLLBACK', { detail: `a different revocation list ${l.number} was already applied` });
        }
      }
      const newlyRevoked = [...this.#certs.values()]
        .filter((c) => isRevoked(l, c) && !isRevoked(current, c))
        .map((c) => c.subject);
      if (this.#storage) await this.#storage.set(this.#key('revocation-list'), l.bytes);
      this.#list = l;
      return Object.freeze({ number: l.number, applied: true, newlyRevoked: Object.freeze(newlyRevoked) });
    });
  }

  /** True if `cert` may publish to topic name `topic` (rights only; see mayPublish). */
  mayPublish(cert: Pick<Certificate, 'publish'>, topic: string): boolean {
    return mayPublish(cert, topic);
  }

  /** True if `cert` may subscribe to `filter` (rights only; see maySubscribe). */
  maySubscribe(cert: Pick<Certificate, 'subscribe'>, filter: string): boolean {
    return maySubscribe(cert, filter);
  }
}
