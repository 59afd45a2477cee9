// Field-level rewriting of captured messages (no keys involved): the cheap
// half of the attacker's toolbox. Each function re-encodes a message with
// some fields changed, following docs/PROTOCOL.md's layouts, so the result
// parses and fails exactly at the check the attack is aimed at.

import { MANIFEST_TYPE, decodeAmortised, decodeManifest, type AmortisedFields, type ManifestFields } from '../../src/protocol/amortised.js';
import { ByteWriter } from '../../src/wire/codec.js';
import { decodeDirect, type DirectFields } from '../../src/protocol/direct.js';
import { decodeKeyRequest, type KeyRequestFields } from '../../src/protocol/grant.js';
import { decodeGroup, type GroupBodyFields, type GroupFields } from '../../src/protocol/group.js';
import { ENVELOPE_TYPE, FLAGS } from '../../src/protocol/envelope.js';

export interface Header {
  readonly type?: number;
  readonly version?: number;
  readonly suite?: number;
  readonly flags?: number;
}

const writeHeader = (w: ByteWriter, type: number, h: Header, flags: number = FLAGS.signed): ByteWriter =>
  w.u8(h.type ?? type).u8(h.version ?? 1).u8(h.suite ?? 1).u8(h.flags ?? flags);

/** The fields after the header that signed and amortised group envelopes share. */
const writeGroupBody = (w: ByteWriter, f: GroupBodyFields, edit: Partial<GroupBodyFields>): ByteWriter =>
  w
    .string16(edit.sender ?? f.sender)
    .string16(edit.channel ?? f.channel)
    .u32(edit.epoch ?? f.epoch)
    .u64(edit.seq ?? f.seq)
    .u64(edit.timestamp ?? f.timestamp)
    .bytes32(edit.ciphertext ?? f.ciphertext);

export type GroupEdit = Partial<Omit<GroupFields, 'header'>> & Header;

export function tryGroup(bytes: Uint8Array): GroupFields | undefined {
  try {
    return decodeGroup(bytes);
  } catch {
    return undefined;
  }
}

export function tryDirect(bytes: Uint8Array, type: typeof ENVELOPE_TYPE.direct | typeof ENVELOPE_TYPE.grant): DirectFields | undefined {
  try {
    return decodeDirect(bytes, type);
  } catch {
    return undefined;
  }
}

export function tryKeyRequest(bytes: Uint8Array): KeyRequestFields | undefined {
  try {
    return decodeKeyRequest(bytes);
  } catch {
    return undefined;
  }
}

/** A group envelope with fields replaced (the signature is kept unless replaced: it no longer matches). */
export function editGroup(bytes: Uint8Array, edit: GroupEdit): Uint8Array {
  const f = decodeGroup(bytes);
  return writeGroupBody(writeHeader(new ByteWriter(bytes.length + 256), ENVELOPE_TYPE.group, edit), f, edit)
    .bytes16(edit.signature ?? f.signature)
    .finish();
}

/** Offset of a group envelope's ciphertext length prefix (= its header length). */
export function groupHeaderLength(bytes: Uint8Array): number {
  return decodeGroup(bytes).header.length;
}

export type DirectEdit = Partial<Omit<DirectFields, 'aad' | 'signed' | 'type'>> & Header;

/** A direct envelope or grant with fields replaced. */
export function editDirect(bytes: Uint8Array, type: typeof ENVELOPE_TYPE.direct | typeof ENVELOPE_TYPE.grant, edit: DirectEdit): Uint8Array {
  const f = decodeDirect(bytes, type);
  return writeHeader(new ByteWriter(bytes.length + 256), type, edit)
    .string16(edit.sender ?? f.sender)
    .string16(edit.recipient ?? f.recipient)
    .u32(edit.recipientKeyEpoch ?? f.recipientKeyEpoch)
    .string16(edit.topic ?? f.topic)
    .u64(edit.timestamp ?? f.timestamp)
    .u64(edit.seq ?? f.seq)
    .fixed(edit.x25519Ciphertext ?? f.x25519Ciphertext, 32, 'ct_X')
    .fixed(edit.mlKemCiphertext ?? f.mlKemCiphertext, 1088, 'ct_M')
    .bytes32(edit.ciphertext ?? f.ciphertext)
    .bytes16(edit.signature ?? f.signature)
    .finish();
}

export type KeyRequestEdit = Partial<Omit<KeyRequestFields, 'signed'>> & Header;

/** A key request with fields replaced. */
export function editKeyRequest(bytes: Uint8Array, edit: KeyRequestEdit): Uint8Array {
  const f = decodeKeyRequest(bytes);
  return writeHeader(new ByteWriter(bytes.length + 256), ENVELOPE_TYPE.keyRequest, edit)
    .string16(edit.subscriber ?? f.subscriber)
    .string16(edit.publisher ?? f.publisher)
    .string16(edit.filter ?? f.filter)
    .u64(edit.timestamp ?? f.timestamp)
    .fixed(edit.nonce ?? f.nonce, 16, 'nonce')
    .bytes16(edit.signature ?? f.signature)
    .finish();
}

export type AmortisedEdit = Partial<Omit<AmortisedFields, 'header'>> & Header;

/** An amortised envelope with fields replaced (flags stay amortised unless replaced). */
export function editAmortised(bytes: Uint8Array, edit: AmortisedEdit): Uint8Array {
  return writeGroupBody(writeHeader(new ByteWriter(bytes.length + 256), ENVELOPE_TYPE.group, edit, FLAGS.amortised), decodeAmortised(bytes), edit).finish();
}

/** `count` writes an entry count other than the entries' (the signature is kept unless replaced: it no longer matches). */
export type ManifestEdit = Partial<Omit<ManifestFields, 'tbs'>> & Header & { readonly count?: number };

/** A batch manifest with fields replaced. */
export function editManifest(bytes: Uint8Array, edit: ManifestEdit): Uint8Array {
  const f = decodeManifest(bytes);
  const entries = edit.entries ?? f.entries;
  const w = writeHeader(new ByteWriter(bytes.length + 256), MANIFEST_TYPE, edit)
    .string16(edit.sender ?? f.sender)
    .string16(edit.channel ?? f.channel)
    .u32(edit.epoch ?? f.epoch)
    .u64(edit.timestamp ?? f.timestamp)
    .u16(edit.count ?? entries.length);
  for (const x of entries) w.u64(x.seq).fixed(x.digest, 32, 'digest');
  return w.bytes16(edit.signature ?? f.signature).finish();
}
