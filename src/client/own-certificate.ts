// Our own certificate's standing: a revocation list that revokes it ends this
// identity (the client reports it once and refuses to publish). Looked up once
// per list, since publishAsync asks on every message.

import type { Certificate } from '../certs/certificate.js';
import type { TrustStore } from '../certs/trust-store.js';

export class OwnCertificate {
  /** The revocation list number last checked, and the answer. */
  #checked: number | undefined;
  #revoked = false;

  constructor(
    private readonly trust: TrustStore,
    readonly certificate: Certificate,
  ) {}

  /** True if the current revocation list revokes our certificate. */
  revoked(): boolean {
    const number = this.trust.revocationListNumber;
    if (number !== this.#checked) {
      this.#checked = number;
      this.#revoked = this.trust.isRevoked(this.certificate);
    }
    return this.#revoked;
  }
}
