// One error hierarchy: the wasm core's PqcError and every SDK error are PqcIiotError, keep their class name in
// err.name, and carry the code they were thrown with.
import { beforeAll, describe, expect, it } from 'vitest';
import { getCore } from '../bindings/state.js';
import {
  ConfigError,
  ConnectionError,
  PqcError,
  PqcIiotError,
  PublishError,
  SecurityError,
  StorageError,
  SubscribeError,
  init,
} from '../src/index.js';

beforeAll(async () => {
  await init();
});

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('the error hierarchy', () => {
  it('a failure of the wasm core is a PqcError and a PqcIiotError', () => {
    const err = thrown(() => getCore().alloc(0x7fff_0001));
    expect(err).toBeInstanceOf(PqcError);
    expect(err).toBeInstanceOf(PqcIiotError);
    expect(err).toMatchObject({ name: 'PqcError', code: 'ABORTED' });
  });

  it('every SDK error class is a PqcIiotError with its own name and code', () => {
    const errors: [PqcIiotError, string, string][] = [
      [new SecurityError('REPLAY', { topic: 't' }), 'SecurityError', 'REPLAY'],
      [new ConfigError('CLOSED', 'closed'), 'ConfigError', 'CLOSED'],
      [new StorageError('CORRUPT', 'bad file'), 'StorageError', 'CORRUPT'],
      [new ConnectionError('CONNECT_TIMEOUT', 'late'), 'ConnectionError', 'CONNECT_TIMEOUT'],
      [new PublishError('QUEUE_FULL', 't', 'full'), 'PublishError', 'QUEUE_FULL'],
      [new SubscribeError('INVALID_FILTER', ['#/x'], 'bad'), 'SubscribeError', 'INVALID_FILTER'],
      [new PqcError('LOAD', 'no module'), 'PqcError', 'LOAD'],
    ];
    for (const [err, name, code] of errors) {
      expect(err).toBeInstanceOf(PqcIiotError);
      expect(err).toBeInstanceOf(Error);
      expect(err.name).toBe(name);
      expect(err.code).toBe(code);
    }
  });
});
