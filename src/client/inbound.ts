// The inbound queue and its acknowledgement timing. Inbound messages are
// handled in mqtt.js's handleMessage hook, which mqtt.js runs one packet at a
// time and before it acknowledges a QoS 1/2 message: a message is verified
// and delivered to the application before the broker is told it arrived, so
// a crash in between loses nothing (it is redelivered and the replay window
// drops the copy if it had been delivered).

import type { IPublishPacket } from 'mqtt';
import type { AmortisedPrefetch } from '../protocol/amortised-manager.js';

/** Amortised messages acknowledged on arrival and still queued, at most (see InboundQueue.enqueue). */
const MAX_EARLY_ACKS = 64;

/** What the queue runs each packet through. */
export interface InboundHandler {
  /**
   * Decrypts an amortised message on arrival if it can (undefined if it is
   * not one, or cannot be): such a message is acknowledged on arrival.
   */
  prefetch(packet: IPublishPacket, payload: Uint8Array): AmortisedPrefetch | undefined;
  /** Handles one inbound message; a promise only for work that has to wait. Never throws a SecurityError. */
  handle(packet: IPublishPacket, payload: Uint8Array, ahead: AmortisedPrefetch | undefined): Promise<void> | void;
  /** Anything else the handler threw. */
  error(err: unknown): void;
}

const bytesOf = (payload: Uint8Array): Uint8Array => new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);

export class InboundQueue {
  /** Inbound packets run one at a time, in arrival order, through this chain. */
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;

  constructor(private readonly handler: InboundHandler) {}

  /** Settles once every packet queued so far was handled. */
  get drained(): Promise<void> {
    return this.#tail;
  }

  /**
   * mqtt.js's handleMessage: queues the packet and tells mqtt.js when to
   * acknowledge it (`done`). A packet is acknowledged once it was verified and
   * delivered (or rejected), with one exception: an amortised message that
   * decrypts on arrival (prefetchAmortised) is acknowledged on arrival. It is
   * acknowledged before delivery in any case (it is held until its
   * manifest), and acknowledging it at once lets mqtt.js hand over the next
   * packets without waiting for the queue. At most MAX_EARLY_ACKS of them
   * wait in the queue; beyond that mqtt.js waits as for any other packet.
   */
  enqueue(packet: IPublishPacket, done: (err?: Error) => void): void {
    const payload = typeof packet.payload === 'string' ? new TextEncoder().encode(packet.payload) : bytesOf(packet.payload);
    const ahead = this.#pending < MAX_EARLY_ACKS ? this.handler.prefetch(packet, payload) : undefined;
    // Nothing queued ahead of it: handled now. The usual amortised message
    // (held for its manifest) then needs no promise at all; only what has to
    // wait (a signature check, storage) goes through the chain, in order.
    const run = this.#pending === 0 ? this.#now(packet, payload, ahead) : this.#tail.then(() => this.handler.handle(packet, payload, ahead));
    if (run === undefined) {
      done();
      return;
    }
    this.#pending++;
    this.#tail = run.then(
      () => undefined,
      (err: unknown) => this.handler.error(err),
    );
    void this.#tail.then(() => {
      this.#pending--;
      if (!ahead) done();
    });
    if (ahead) done();
  }

  /** handle() at once, outside the chain: undefined if it finished, else what is left of it. */
  #now(packet: IPublishPacket, payload: Uint8Array, ahead: AmortisedPrefetch | undefined): Promise<void> | undefined {
    try {
      return this.handler.handle(packet, payload, ahead) ?? undefined;
    } catch (err) {
      this.handler.error(err);
      return undefined;
    }
  }
}
