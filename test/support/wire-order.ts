// What went over each client's own connection, in order: the sequence numbers
// of the group envelopes a publisher wrote on a topic (per connection, so
// resends after a reconnect can be told apart) and those a subscriber read.
//
// A stream test uses it to check the order hop by hop. The SDK must hand its
// publishes to mqtt.js in sequence order and mqtt.js must resend them in that
// order (MQTT-4.6.0-1); the subscriber must deliver in the order its
// connection received them, dropping later copies. What the broker does in
// between is the broker's: Mosquitto 2.0.11 was seen to redeliver a
// reconnecting subscriber's in-flight messages out of order (see
// docs/RELIABILITY.md), which no client can undo without holding messages back.
import type { MqttClient, Packet } from 'mqtt';
import { decodeGroup } from '../../src/protocol/group.js';
import { ENVELOPE_TYPE } from '../../src/protocol/envelope.js';

/** The unverified sequence number of a group envelope, or undefined (the test's own bookkeeping, never a verdict). */
function seqOf(payload: unknown): number | undefined {
  if (!(payload instanceof Uint8Array) || payload[0] !== ENVELOPE_TYPE.group) return undefined;
  try {
    return decodeGroup(payload).seq;
  } catch {
    return undefined;
  }
}

export class WireOrder {
  /** Publisher side: one list per connection (a new one at every CONNECT). */
  readonly sent: number[][] = [];
  /** Subscriber side: every copy read, in arrival order. */
  readonly received: number[] = [];

  /** Records the group envelopes `client` writes on `topic`. */
  static publisher(client: MqttClient, topic: string): WireOrder {
    const w = new WireOrder();
    w.sent.push([]);
    client.on('packetsend', (p: Packet) => {
      if (p.cmd === 'connect') w.sent.push([]);
      else if (p.cmd === 'publish' && p.topic === topic) {
        const seq = seqOf(p.payload);
        if (seq !== undefined) w.sent[w.sent.length - 1]!.push(seq);
      }
    });
    return w;
  }

  /** Records the group envelopes `client` reads on `topic` (mqtt.js handles packets one at a time, in arrival order). */
  static subscriber(client: MqttClient, topic: string): WireOrder {
    const w = new WireOrder();
    client.on('packetreceive', (p: Packet) => {
      if (p.cmd === 'publish' && p.topic === topic) {
        const seq = seqOf(p.payload);
        if (seq !== undefined) w.received.push(seq);
      }
    });
    return w;
  }

  /** Publisher: where a connection's writes (first sends and resends alike) went backwards; empty when in order. */
  backwardsWrites(): string[] {
    const out: string[] = [];
    this.sent.forEach((list, c) => {
      for (let k = 1; k < list.length; k++) if (list[k]! <= list[k - 1]!) out.push(`connection ${c}: ${list[k]} written after ${list[k - 1]}`);
    });
    return out;
  }

  /** Subscriber: the first copy of each sequence number, in arrival order (what the application must see). */
  firstArrivals(): number[] {
    const seen = new Set<number>();
    const first: number[] = [];
    for (const s of this.received) {
      if (seen.has(s)) continue;
      seen.add(s);
      first.push(s);
    }
    return first;
  }

  /** Subscriber: first arrivals that came after a higher sequence number (the broker's reordering). */
  brokerReorders(): string[] {
    const first = this.firstArrivals();
    const out: string[] = [];
    let max = -1;
    for (const s of first) {
      if (s < max) out.push(`${s} after ${max}`);
      max = Math.max(max, s);
    }
    return out;
  }
}
