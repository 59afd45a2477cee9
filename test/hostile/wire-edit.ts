// Field-level rewriting of captured messages (no keys involved): the cheap
// half of the attacker's toolbox. Each function re-encodes a message with
// some fields changed, following docs/PROTOCOL.md's layouts, so the result
// parses and fails exactly at the check the attack is aimed at.

import { ByteWriter } from '../../src/protocol/codec.js';
import { decodeDirect, type DirectFields } from '../../src/protocol/direct.js';
import { decodeKeyRequest, type KeyRequestFields } from '../../src/protocol/grant.js';
import { decodeGroup, type GroupFields } from '../../src/protocol/group.js';
import { ENVELOPE_TYPE } from '../../src/protocol/wire.js';

export interface Header {
  readonly type?: number;
  readonly version?: number;
  readonly suite?: number;
  readonly flags?: number;
}

const writeHeader = (w: ByteWriter, type: number, h: Header): ByteWriter =>
  w.u8(h.type ?? type).u8(h.version ?? 1).u8(h.suite ?? 1).u8(h.flags ?? 1);

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
  const w = writeHeader(new ByteWriter(bytes.length + 256), ENVELOPE_TYPE.group, edit)
    .string16(edit.sender ?? f.sender)
    .string16(edit.channel ?? f.channel)
    .u32(edit.epoch ?? f.epoch)
    .u64(edit.seq ?? f.seq)
    .u64(edit.timestamp ?? f.timestamp)
    .bytes32(edit.ciphertext ?? f.ciphertext)
    .bytes16(edit.signature ?? f.signature);
  return w.finish();
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
