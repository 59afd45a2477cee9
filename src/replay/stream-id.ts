// One stream of sequence numbers = (sender, channel, epoch). Its id is also
// its storage key: "replay/v1/<sender>/<channel>/<epoch>", with '%' and '/'
// escaped in sender and channel so the mapping is injective and a prefix
// "replay/v1/<sender>/<channel>/" selects exactly one (sender, channel).

import { astring, auint } from '../../bindings/assert-sdk.js';

export interface StreamKey {
  readonly sender: string;
  readonly channel: string;
  readonly epoch: number;
}

export const STREAM_PREFIX = 'replay/v1/';

/** Longest sender or channel accepted, in UTF-16 code units (keeps storage keys small). */
export const MAX_NAME_LENGTH = 512;

const LONE_SURROGATE = /\p{Surrogate}/u;

/** A sender or channel as part of a storage key. */
function checkName(value: unknown, label: string): string {
  const name = astring(value, label);
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new RangeError(`${label} must be 1 to ${MAX_NAME_LENGTH} characters, got ${name.length}`);
  }
  // A lone surrogate has no UTF-8 form: two different names would share one key.
  if (LONE_SURROGATE.test(name)) throw new RangeError(`${label} contains a lone surrogate`);
  return name;
}

const escapeName = (name: string): string => name.replace(/%/g, '%25').replace(/\//g, '%2F');

// Every message looks its stream up: remember the prefixes of the few (sender,
// channel) pairs seen (bounded; cleared when full). Only checked names get in.
const PREFIX_MEMO_LIMIT = 1024;
const prefixes = new Map<string, Map<string, string>>();

/** The prefix shared by every epoch of (sender, channel). */
export function streamPrefix(sender: string, channel: string): string {
  const known = prefixes.get(sender)?.get(channel);
  if (known !== undefined) return known;
  checkName(sender, 'sender');
  checkName(channel, 'channel');
  const prefix = `${STREAM_PREFIX}${escapeName(sender)}/${escapeName(channel)}/`;
  if (prefixes.size >= PREFIX_MEMO_LIMIT) prefixes.clear();
  let bySender = prefixes.get(sender);
  if (bySender === undefined) prefixes.set(sender, (bySender = new Map()));
  if (bySender.size >= PREFIX_MEMO_LIMIT) bySender.clear();
  bySender.set(channel, prefix);
  return prefix;
}

/** Ids of frozen keys already checked (a frozen key cannot change, so its id cannot either). */
const frozenIds = new WeakMap<StreamKey, string>();

/** The stream's id and storage key; checks every field. */
export function streamId(key: StreamKey): string {
  if (typeof key !== 'object' || key === null) throw new TypeError('key must be { sender, channel, epoch }');
  const known = frozenIds.get(key);
  if (known !== undefined) return known;
  auint(key.epoch, 'key.epoch');
  const id = `${streamPrefix(key.sender, key.channel)}${key.epoch}`;
  if (Object.isFrozen(key)) frozenIds.set(key, id);
  return id;
}

/** The epoch of an id that starts with `prefix`, or undefined if the rest is not a canonical epoch. */
export function epochOf(id: string, prefix: string): number | undefined {
  const rest = id.slice(prefix.length);
  if (!/^(0|[1-9][0-9]{0,15})$/.test(rest)) return undefined;
  const epoch = Number(rest);
  return Number.isSafeInteger(epoch) ? epoch : undefined;
}
