// Replay streams and storage keys derived from protocol names.
//
// A replay stream is (sender, channel name, epoch) in the ReplayGuard. The
// channel name carries the sender's certificate key epoch, so a re-enrolled
// device (new keys, new key epoch, possibly empty storage that restarts its
// counters) starts fresh streams instead of colliding with its old ones:
//   direct envelopes:  ("d" + keyEpoch, 0)
//   group messages:    ("g" + keyEpoch + ":" + channel, group epoch), with a
//                      channel longer than 448 UTF-16 units replaced by
//                      "#" + hex(SHAKE-256(channel, 16)) ('#' cannot start a
//                      valid multi-character filter level, so this is unambiguous).

import { shake256 } from '../../bindings/index.js';
import type { StreamKey } from '../replay/guard.js';

const MAX_PLAIN_CHANNEL = 448;
const utf8 = new TextEncoder();
const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

export function directStream(sender: string, senderKeyEpoch: number): StreamKey {
  return { sender, channel: `d${senderKeyEpoch}`, epoch: 0 };
}

/** The ReplayGuard channel name of a group channel. */
export function groupStreamChannel(senderKeyEpoch: number, channel: string): string {
  const name = channel.length <= MAX_PLAIN_CHANNEL ? channel : `#${hex(shake256(utf8.encode(channel), 16))}`;
  return `g${senderKeyEpoch}:${name}`;
}

/** The last group stream asked for: a stream's messages ask for the same one, message after message. */
let lastGroup: { sender: string; senderKeyEpoch: number; channel: string; key: StreamKey } | undefined;

/** A group message's replay stream; frozen, and the same object for a repeated stream (its id is then remembered). */
export function groupStream(sender: string, senderKeyEpoch: number, channel: string, epoch: number): StreamKey {
  const last = lastGroup;
  if (last !== undefined && last.key.epoch === epoch && last.sender === sender && last.senderKeyEpoch === senderKeyEpoch && last.channel === channel) return last.key;
  const key: StreamKey = Object.freeze({ sender, channel: groupStreamChannel(senderKeyEpoch, channel), epoch });
  lastGroup = { sender, senderKeyEpoch, channel, key };
  return key;
}

/** Escapes '%' and '/' so a name is one storage-key segment (injective). */
export function keySegment(name: string): string {
  return name.replace(/%/g, '%25').replace(/\//g, '%2F');
}
