// The client's error kinds (the seed's four: ConnectionError, PublishError,
// SubscribeError, SecurityError), each with a stable `code`.

import { PqcIiotError } from '../errors.js';

export type ConnectionErrorCode = 'CONNECT_FAILED' | 'CONNECT_TIMEOUT' | 'NOT_CONNECTED' | 'CLOSED' | 'BAD_URL' | 'BROKER_REFUSED';
export type PublishErrorCode = 'INVALID_TOPIC' | 'NOT_AUTHORISED' | 'REVOKED' | 'TOO_LARGE' | 'QUEUE_FULL' | 'TIMEOUT' | 'BROKER_REFUSED' | 'CLOSED';
export type SubscribeErrorCode = 'INVALID_FILTER' | 'NOT_AUTHORISED' | 'TIMEOUT' | 'BROKER_REFUSED' | 'CLOSED';

export class ConnectionError extends PqcIiotError {
  declare readonly code: ConnectionErrorCode;
  constructor(code: ConnectionErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export class PublishError extends PqcIiotError {
  declare readonly code: PublishErrorCode;
  readonly topic: string;
  constructor(code: PublishErrorCode, topic: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.topic = topic;
  }
}

export class SubscribeError extends PqcIiotError {
  declare readonly code: SubscribeErrorCode;
  readonly filters: readonly string[];
  constructor(code: SubscribeErrorCode, filters: readonly string[], message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.filters = filters;
  }
}

export { SecurityError } from '../errors.js';
