// Algorithm suites named on the wire. A certificate names two: the suite of
// the subject's keys and the suite of the CA's signature over it.

import { aoneOf } from '../../bindings/assert-sdk.js';
import { falcon512, falcon1024, type Signer } from '../../bindings/index.js';
import { unsupported } from '../wire/fields.js';

export { KEY_SUITE_ID } from '../wire/encoding-ids.js';

/** A CA's signature algorithm. */
export type SignatureSuite = 'falcon512' | 'falcon1024';

interface SuiteInfo {
  readonly id: number;
  readonly signer: Signer;
}

export const SIGNATURE_SUITES: Readonly<Record<SignatureSuite, SuiteInfo>> = Object.freeze({
  falcon512: Object.freeze({ id: 1, signer: falcon512 }),
  falcon1024: Object.freeze({ id: 2, signer: falcon1024 }),
});

/** The suite with wire id `id`; any other id is UNSUPPORTED_VERSION. */
export function signatureSuiteFromId(id: number, what: string): SignatureSuite {
  if (id === 1) return 'falcon512';
  if (id === 2) return 'falcon1024';
  return unsupported(`${what}: unknown signature suite ${id}`);
}

/** Checks a caller-supplied suite name. */
export function checkSignatureSuite(suite: unknown): SignatureSuite {
  return aoneOf(suite, ['falcon512', 'falcon1024'], 'suite');
}
