// Revocation lists: the CA's signed, numbered, complete list of revoked
// certificates. A newer list replaces the older one entirely; numbers only go
// up (the trust store rejects a lower number as ROLLBACK). The CA signs
// LABELS.revocationList || tbs. Version 2 carries the CA's next-update time:
// a client whose newest list is past it (plus a grace) knows it may be missing
// a revocation the broker withholds. Version 1 lists (no next update) still
// decode; a client treats one as already past its next update.

import { aarray, aint } from '../../bindings/assert-sdk.js';
import { SecurityError } from '../errors.js';
import { ByteReader, ByteWriter, boundInput } from '../wire/codec.js';
import { FORMAT_VERSION, TYPE } from '../wire/encoding-ids.js';
import { malformed, readSubject, unsupported } from '../wire/fields.js';
import { LABELS } from '../wire/labels.js';
import { MAX_SUBJECT_BYTES, validateSubjectId } from '../wire/subject-id.js';
import { signAsAuthority, verifyByAnchor, type CertificateAuthority, type TrustAnchor } from './authority.js';
import type { Certificate } from './certificate.js';
import { SIGNATURE_SUITES, signatureSuiteFromId, type SignatureSuite } from './suites.js';

/**
 * One revoked thing:
 * - `serial`: the subject's certificate with exactly this serial;
 * - `below-epoch`: every certificate of the subject whose key epoch is lower
 *   than `epoch` (its keys up to that epoch are compromised or retired);
 * - `subject`: every certificate of the subject, whatever its epoch.
 */
export type RevocationEntry =
  | { readonly kind: 'serial'; readonly subject: string; readonly serial: number }
  | { readonly kind: 'below-epoch'; readonly subject: string; readonly epoch: number }
  | { readonly kind: 'subject'; readonly subject: string };

const KIND = Object.freeze({ serial: 1, 'below-epoch': 2, subject: 3 });

/** The format version issued; version 1 (without nextUpdate) is still read. */
export const REVOCATION_LIST_VERSION = 2;

/**
 * How long a list is current when the CA does not say (nextUpdate = issuedAt + this): 24 hours. Re-issue at half
 * of it (revocationListDue's default), so a list missed once is replaced before clients call theirs stale.
 */
export const DEFAULT_REVOCATION_LIST_VALIDITY_MS = 24 * 60 * 60 * 1000;

/** At most this many entries in one list. */
export const MAX_REVOCATION_ENTRIES = 4096;

const MAX_ENTRY_BYTES = 1 + 2 + MAX_SUBJECT_BYTES + 8;

/** The largest revocation list encoding, in bytes. */
export const MAX_REVOCATION_LIST_BYTES =
  3 + 8 + 8 + 8 + 2 + MAX_SUBJECT_BYTES + 2 + MAX_REVOCATION_ENTRIES * MAX_ENTRY_BYTES + 2 + SIGNATURE_SUITES.falcon1024.signer.lengths.signature;

export interface RevocationListFields {
  /** Increases with every list the CA issues (u64). */
  readonly number: number;
  /** When the CA issued it (ms since the epoch). */
  readonly issuedAt: number;
  /**
   * When the CA will have issued the next list at the latest (ms since the epoch, > issuedAt). Default:
   * issuedAt + DEFAULT_REVOCATION_LIST_VALIDITY_MS. Undefined only in a decoded version 1 list.
   */
  readonly nextUpdate?: number | undefined;
  readonly entries: readonly RevocationEntry[];
}

export interface RevocationList extends RevocationListFields {
  readonly version: number;
  readonly issuer: string;
  readonly signatureSuite: SignatureSuite;
  readonly signature: Uint8Array;
  readonly tbs: Uint8Array;
  readonly bytes: Uint8Array;
}

function checkFields(fields: RevocationListFields): void {
  aint(fields.number, 0, Number.MAX_SAFE_INTEGER, 'number');
  aint(fields.issuedAt, 0, Number.MAX_SAFE_INTEGER, 'issuedAt');
  if (fields.nextUpdate !== undefined) aint(fields.nextUpdate, fields.issuedAt + 1, Number.MAX_SAFE_INTEGER, 'nextUpdate');
  aarray(fields.entries, MAX_REVOCATION_ENTRIES, 'entries');
  fields.entries.forEach((e: RevocationEntry, i) => {
    validateSubjectId(e.subject, `entries[${i}].subject`);
    if (e.kind === 'serial') aint(e.serial, 0, Number.MAX_SAFE_INTEGER, `entries[${i}].serial`);
    else if (e.kind === 'below-epoch') aint(e.epoch, 0, 0xffffffff, `entries[${i}].epoch`);
    else if (e.kind !== 'subject') throw new RangeError(`entries[${i}].kind must be 'serial', 'below-epoch' or 'subject'`);
  });
}

const utf8Length = (text: string): number => new TextEncoder().encode(text).length;

/** The exact encoded size with the largest signature (sized once: ByteWriter must not grow in a bytes write). */
function encodedSize(f: RevocationListFields, issuer: string): number {
  let size = 3 + 8 + 8 + 8 + 2 + utf8Length(issuer) + 2 + 2 + SIGNATURE_SUITES.falcon1024.signer.lengths.signature;
  for (const e of f.entries) size += 1 + 2 + utf8Length(e.subject) + (e.kind === 'serial' ? 8 : e.kind === 'below-epoch' ? 4 : 0);
  return size;
}

/** Writes a version 2 list, or version 1 for a decoded v1 list being re-encoded (no nextUpdate). */
function writeTbs(w: ByteWriter, f: RevocationListFields, issuer: string, suite: SignatureSuite): ByteWriter {
  w.u8(TYPE.revocationList)
    .u8(f.nextUpdate === undefined ? FORMAT_VERSION : REVOCATION_LIST_VERSION)
    .u8(SIGNATURE_SUITES[suite].id)
    .u64(f.number)
    .u64(f.issuedAt);
  if (f.nextUpdate !== undefined) w.u64(f.nextUpdate);
  w.string16(issuer)
    .u16(f.entries.length);
  for (const e of f.entries) {
    w.u8(KIND[e.kind]).string16(e.subject);
    if (e.kind === 'serial') w.u64(e.serial);
    else if (e.kind === 'below-epoch') w.u32(e.epoch);
  }
  return w;
}

/**
 * Issues a revocation list signed by `ca`.
 *
 * @throws TypeError/RangeError naming an invalid field; ConfigError('DESTROYED').
 */
export function issueRevocationList(
  ca: CertificateAuthority,
  fields: RevocationListFields,
  options: { readonly signingSeed?: Uint8Array } = {},
): RevocationList {
  const f = { ...fields, nextUpdate: fields.nextUpdate ?? fields.issuedAt + DEFAULT_REVOCATION_LIST_VALIDITY_MS };
  checkFields(f);
  const tbs = writeTbs(new ByteWriter(encodedSize(f, ca.id)), f, ca.id, ca.suite).finish();
  const signature = signAsAuthority(ca, LABELS.revocationList, tbs, options.signingSeed);
  return decodeRevocationList(new ByteWriter(tbs.length + 2 + signature.length).fixed(tbs, tbs.length, 'tbs').bytes16(signature).finish());
}

/** The canonical encoding (equal to the bytes it was decoded from). */
export function encodeRevocationList(list: RevocationList): Uint8Array {
  checkFields(list);
  validateSubjectId(list.issuer, 'issuer');
  const max = SIGNATURE_SUITES[list.signatureSuite]?.signer.lengths.signature;
  if (max === undefined) throw new RangeError(`unknown signature suite ${String(list.signatureSuite)}`);
  if (list.signature.length < 1 || list.signature.length > max) throw new RangeError(`signature must be 1 to ${max} bytes`);
  return writeTbs(new ByteWriter(encodedSize(list, list.issuer)), list, list.issuer, list.signatureSuite).bytes16(list.signature).finish();
}

/**
 * Parses a revocation list: no cryptography.
 *
 * @throws SecurityError TOO_LARGE, UNSUPPORTED_VERSION or MALFORMED.
 */
export function decodeRevocationList(bytes: Uint8Array): RevocationList {
  boundInput(bytes, MAX_REVOCATION_LIST_BYTES, 'revocation list');
  const r = new ByteReader(bytes);
  if (r.u8('type') !== TYPE.revocationList) malformed('revocation list: wrong type byte');
  const version = r.u8('version');
  if (version !== FORMAT_VERSION && version !== REVOCATION_LIST_VERSION) unsupported(`revocation list: format version ${version}`);
  const signatureSuite = signatureSuiteFromId(r.u8('signature suite'), 'revocation list');
  const number = r.u64('number');
  const issuedAt = r.u64('issuedAt');
  const nextUpdate = version === FORMAT_VERSION ? undefined : r.u64('nextUpdate');
  if (nextUpdate !== undefined && nextUpdate <= issuedAt) malformed('revocation list: nextUpdate is not after issuedAt');
  const issuer = readSubject(r, 'issuer');
  const count = r.u16('entry count');
  if (count > MAX_REVOCATION_ENTRIES) malformed(`revocation list: ${count} entries, at most ${MAX_REVOCATION_ENTRIES}`);
  // Each entry takes at least 4 bytes: refuse a count the input cannot hold before looping.
  if (count * 4 > r.remaining) malformed(`revocation list: ${count} entries cannot fit in ${r.remaining} bytes`);
  const entries: RevocationEntry[] = [];
  for (let i = 0; i < count; i++) {
    const kind = r.u8(`entries[${i}].kind`);
    const subject = readSubject(r, `entries[${i}].subject`);
    if (kind === KIND.serial) entries.push(Object.freeze({ kind: 'serial', subject, serial: r.u64(`entries[${i}].serial`) }));
    else if (kind === KIND['below-epoch']) entries.push(Object.freeze({ kind: 'below-epoch', subject, epoch: r.u32(`entries[${i}].epoch`) }));
    else if (kind === KIND.subject) entries.push(Object.freeze({ kind: 'subject', subject }));
    else malformed(`revocation list: entries[${i}] has unknown kind ${kind}`);
  }
  const tbs = r.consumed().slice();
  const signature = r.bytes16(SIGNATURE_SUITES[signatureSuite].signer.lengths.signature, 'signature').slice();
  if (signature.length === 0) malformed('revocation list: empty signature');
  r.end('revocation list');
  return Object.freeze({
    version,
    signatureSuite,
    number,
    issuedAt,
    nextUpdate,
    issuer,
    entries: Object.freeze(entries) as RevocationEntry[],
    signature,
    tbs,
    bytes: bytes.slice(),
  });
}

/**
 * Decodes (if given bytes) and verifies a revocation list against `anchor`:
 * parse (MALFORMED, TOO_LARGE, UNSUPPORTED_VERSION), then issuer, suite and
 * signature over LABELS.revocationList || tbs (BAD_SIGNATURE). Whether its
 * number is new enough is the trust store's check (ROLLBACK).
 */
export function verifyRevocationList(list: RevocationList | Uint8Array, anchor: TrustAnchor): RevocationList {
  const l = decodeRevocationList(list instanceof Uint8Array ? list : list.bytes);
  if (l.issuer !== anchor.id || l.signatureSuite !== anchor.suite) {
    throw new SecurityError('BAD_SIGNATURE', { detail: `revocation list issued by ${l.issuer}, not by the trust anchor ${anchor.id}` });
  }
  if (!verifyByAnchor(anchor, LABELS.revocationList, l.tbs, l.signature)) {
    throw new SecurityError('BAD_SIGNATURE', { detail: 'revocation list signature does not verify' });
  }
  return l;
}

/** The entry of `list` that revokes `cert`, if any. */
export function revocationEntryFor(
  list: Pick<RevocationList, 'entries'>,
  cert: Pick<Certificate, 'subject' | 'serial' | 'keyEpoch'>,
): RevocationEntry | undefined {
  return list.entries.find(
    (e) =>
      e.subject === cert.subject &&
      (e.kind === 'subject' || (e.kind === 'serial' && e.serial === cert.serial) || (e.kind === 'below-epoch' && cert.keyEpoch < e.epoch)),
  );
}

/** True if `list` revokes `cert`. */
export function isRevoked(list: Pick<RevocationList, 'entries'> | undefined, cert: Pick<Certificate, 'subject' | 'serial' | 'keyEpoch'>): boolean {
  return list !== undefined && revocationEntryFor(list, cert) !== undefined;
}

/**
 * The CA's next list: the same entries as `previous` (or `entries`), the next number, issued at `now`, current for
 * `validityMs` (default DEFAULT_REVOCATION_LIST_VALIDITY_MS). Publish it retained on the control topic.
 */
export function reissueRevocationList(
  ca: CertificateAuthority,
  previous: Pick<RevocationList, 'number' | 'entries'>,
  options: { readonly now?: number; readonly validityMs?: number; readonly entries?: readonly RevocationEntry[]; readonly signingSeed?: Uint8Array } = {},
): RevocationList {
  const now = aint(options.now ?? Date.now(), 0, Number.MAX_SAFE_INTEGER, 'now');
  const validityMs = aint(options.validityMs ?? DEFAULT_REVOCATION_LIST_VALIDITY_MS, 1, Number.MAX_SAFE_INTEGER - now, 'validityMs');
  const fields = { number: previous.number + 1, issuedAt: now, nextUpdate: now + validityMs, entries: options.entries ?? previous.entries };
  return issueRevocationList(ca, fields, options.signingSeed === undefined ? {} : { signingSeed: options.signingSeed });
}

/**
 * True when the CA should issue its next list: `renewBeforeMs` (default half the list's validity) before its
 * nextUpdate, or at once for a version 1 list. A CA service calls it on a timer (every minute, say).
 */
export function revocationListDue(list: Pick<RevocationList, 'issuedAt' | 'nextUpdate'>, now: number = Date.now(), renewBeforeMs?: number): boolean {
  if (list.nextUpdate === undefined) return true;
  const before = renewBeforeMs ?? Math.floor((list.nextUpdate - list.issuedAt) / 2);
  return now >= list.nextUpdate - before;
}
