// The IPC messages between bench/e2e-split.ts (the parent: publisher and load
// driver) and bench/split-subscriber.ts (the child: the subscriber), shared so
// both ends agree on one shape. The channel uses Node's 'advanced'
// serialization (structured clone), so typed arrays cross it as they are
// instead of as JSON arrays of numbers. What arrives is still checked: IPC
// hands over `unknown`, and a malformed message should fail loudly rather
// than turn into a wrong figure.

export type SplitMode = 'plain' | 'signed' | 'amortised';

/** The subscriber's identity (exportIdentity), certificate bytes and the operator CA's trust anchor (encodeTrustAnchor). */
export interface SplitCredentials {
  readonly identity: Uint8Array;
  readonly certificate: Uint8Array;
  readonly trustAnchor: Uint8Array;
}

export type ToChild =
  /** Connect to `url` and subscribe to `filter` at QoS 1; credentials for the secure modes. */
  | { readonly type: 'start'; readonly url: string; readonly filter: string; readonly mode: SplitMode; readonly credentials?: SplitCredentials }
  /** The publisher is connected; report 'ready' (after holding a key of (publisher, channel), when given). */
  | { readonly type: 'go'; readonly awaitKey?: { readonly publisher: string; readonly channel: string } }
  /** End the client and exit. */
  | { readonly type: 'stop' };

export type FromChild =
  | { readonly type: 'subscribed' }
  | { readonly type: 'ready' }
  /**
   * Deliveries since the last report, in delivery order: `headers` holds each payload's first 8 bytes
   * (run tag, sequence number), `times` each delivery's wall-clock time (performance.timeOrigin +
   * performance.now() in the child, ms). `security`: security events since the last report.
   */
  | { readonly type: 'report'; readonly headers: Uint8Array; readonly times: Float64Array; readonly security: readonly string[] }
  | { readonly type: 'fatal'; readonly message: string }
  /** The client ended; how many deliveries were reported in how many report messages (the batching achieved). */
  | { readonly type: 'stopped'; readonly deliveries: number; readonly reports: number };

export const HEADER_BYTES = 8;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isString = (v: unknown): v is string => typeof v === 'string';
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isMode = (v: unknown): v is SplitMode => v === 'plain' || v === 'signed' || v === 'amortised';

function bad(what: string, m: unknown): never {
  let shown: string;
  try {
    shown = JSON.stringify(m)?.slice(0, 200) ?? String(m);
  } catch {
    shown = String(m);
  }
  throw new TypeError(`split IPC: malformed ${what}: ${shown}`);
}

export function parseToChild(m: unknown): ToChild {
  if (!isRecord(m)) bad('message to the subscriber', m);
  switch (m['type']) {
    case 'start': {
      const { url, filter, mode, credentials } = m;
      if (!isString(url) || !isString(filter) || !isMode(mode)) bad('start', m);
      if (credentials === undefined) return { type: 'start', url, filter, mode };
      if (!isRecord(credentials)) bad('start credentials', m);
      const { identity, certificate, trustAnchor } = credentials;
      if (!(identity instanceof Uint8Array) || !(certificate instanceof Uint8Array) || !(trustAnchor instanceof Uint8Array)) bad('start credentials', m);
      return { type: 'start', url, filter, mode, credentials: { identity, certificate, trustAnchor } };
    }
    case 'go': {
      const { awaitKey } = m;
      if (awaitKey === undefined) return { type: 'go' };
      if (!isRecord(awaitKey) || !isString(awaitKey['publisher']) || !isString(awaitKey['channel'])) bad('go', m);
      return { type: 'go', awaitKey: { publisher: awaitKey['publisher'], channel: awaitKey['channel'] } };
    }
    case 'stop':
      return { type: 'stop' };
    default:
      return bad('message to the subscriber', m);
  }
}

export function parseFromChild(m: unknown): FromChild {
  if (!isRecord(m)) bad('message from the subscriber', m);
  switch (m['type']) {
    case 'subscribed':
      return { type: 'subscribed' };
    case 'ready':
      return { type: 'ready' };
    case 'report': {
      const { headers, times, security } = m;
      if (!(headers instanceof Uint8Array) || !(times instanceof Float64Array) || headers.byteLength !== times.length * HEADER_BYTES) bad('report', m);
      if (!Array.isArray(security) || !security.every(isString)) bad('report', m);
      return { type: 'report', headers, times, security };
    }
    case 'fatal':
      if (!isString(m['message'])) bad('fatal', m);
      return { type: 'fatal', message: m['message'] };
    case 'stopped':
      if (!isCount(m['deliveries']) || !isCount(m['reports'])) bad('stopped', m);
      return { type: 'stopped', deliveries: m['deliveries'], reports: m['reports'] };
    default:
      return bad('message from the subscriber', m);
  }
}
