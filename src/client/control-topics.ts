// Where the key-distribution traffic lives: one reserved prefix (default
// 'pqc-iiot/v1'), under which applications may not publish. Everything on
// these topics is itself signed and verified (certificate announcements,
// revocation lists, key requests, grants).

import { topicMatches, validateTopicName } from '../topic/grammar.js';
import { validateSubjectId } from '../wire/subject-id.js';

export type ControlKind = 'cert' | 'crl' | 'grant' | 'key-request';

export interface ControlTopic {
  readonly kind: ControlKind;
  /** The subject named by the topic's last level (cert, grant, key-request). */
  readonly subject?: string;
}

export class ControlTopics {
  readonly prefix: string;

  constructor(prefix = 'pqc-iiot/v1') {
    if (prefix.includes('+') || prefix.includes('#') || prefix.endsWith('/') || prefix.startsWith('$')) {
      throw new RangeError(`controlPrefix must be a plain topic without wildcards, a trailing '/' or a leading '$', got '${prefix}'`);
    }
    validateTopicName(prefix);
    this.prefix = prefix;
  }

  /** Retained certificate announcement of `subject`. */
  cert(subject: string): string {
    return `${this.prefix}/certs/${validateSubjectId(subject, 'subject')}`;
  }

  get allCerts(): string {
    return `${this.prefix}/certs/+`;
  }

  /** Retained, CA-signed revocation list. */
  get crl(): string {
    return `${this.prefix}/crl`;
  }

  /** Grants for `subscriber`. */
  grant(subscriber: string): string {
    return `${this.prefix}/grants/${validateSubjectId(subscriber, 'subscriber')}`;
  }

  /** Key requests for `publisher`. */
  keyRequest(publisher: string): string {
    return `${this.prefix}/key-requests/${validateSubjectId(publisher, 'publisher')}`;
  }

  /** True for every topic under the prefix (reserved: applications may not publish there). */
  isReserved(topic: string): boolean {
    return topic === this.prefix || topic.startsWith(this.prefix + '/');
  }

  /** True if an application filter would also match reserved topics (e.g. '#'). */
  filterReachesReserved(filter: string): boolean {
    return topicMatches(filter, this.crl) || topicMatches(filter, `${this.prefix}/certs/x`);
  }

  /** What a received reserved topic is, or undefined for an unknown one. */
  parse(topic: string): ControlTopic | undefined {
    if (!this.isReserved(topic)) return undefined;
    if (topic === this.crl) return { kind: 'crl' };
    const rest = topic.slice(this.prefix.length + 1);
    const slash = rest.indexOf('/');
    if (slash < 0) return undefined;
    const kind = rest.slice(0, slash);
    const subject = rest.slice(slash + 1);
    if (subject.length === 0 || subject.includes('/')) return undefined;
    if (kind === 'certs') return { kind: 'cert', subject };
    if (kind === 'grants') return { kind: 'grant', subject };
    if (kind === 'key-requests') return { kind: 'key-request', subject };
    return undefined;
  }
}
