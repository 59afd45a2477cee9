// What is genuine in the hostile runs: the bytes honest parties and the
// test's own signer produced. The model never checks a signature: a message
// is genuine iff its bytes are one of these (group envelopes: for the topic
// they were sealed for).

import type { GrantPayload } from '../../../src/protocol/grant.js';
import { hashOf, type Stop } from '../oracle.js';


/**
 * What is genuine: bytes produced by an honest party (seen by the proxy on
 * the way into the broker) or by the test's own signer. A forger cannot
 * produce these without the keys, and any change to them breaks the signature.
 */
export class Genuine {
  /** Group envelopes: hash -> topics they were sealed for (the signature binds the topic). */
  readonly #group = new Map<string, Set<string>>();
  /** Everything else whose signature verifies (direct, grants, key requests, announcements, lists, certificates). */
  readonly #signed = new Set<string>();
  /** Genuine signatures over content that does not decrypt (the test's wrong-key messages). */
  readonly #undecryptable = new Set<string>();
  /** Grant plaintexts known without decryption (grants the test sealed itself). */
  readonly grantPlaintext = new Map<string, GrantPayload | Stop>();

  addGroup(bytes: Uint8Array, topic: string): void {
    const h = hashOf(bytes);
    let s = this.#group.get(h);
    if (!s) this.#group.set(h, (s = new Set()));
    s.add(topic);
  }

  addSigned(bytes: Uint8Array): void {
    this.#signed.add(hashOf(bytes));
  }

  addUndecryptable(bytes: Uint8Array, topic?: string): void {
    if (topic !== undefined) this.addGroup(bytes, topic);
    else this.addSigned(bytes);
    this.#undecryptable.add(hashOf(bytes));
  }

  isGroup(bytes: Uint8Array, topic: string): boolean {
    return this.#group.get(hashOf(bytes))?.has(topic) ?? false;
  }

  isSigned(bytes: Uint8Array): boolean {
    return this.#signed.has(hashOf(bytes));
  }

  decrypts(bytes: Uint8Array): boolean {
    return !this.#undecryptable.has(hashOf(bytes));
  }

  get size(): number {
    return this.#group.size + this.#signed.size;
  }
}
