// The retained-message replay policy (docs/PROTOCOL.md, "Replay, order,
// duplicates, time, retained messages"): the replay check a retained delivery is held to, and the live
// window wrapped so that nothing accepted as retained is taken again live.
// Memory only: a session is this KeyManager's life.

import type { Clock } from '../../clock.js';
import { SecurityError } from '../../errors.js';
import type { ReplayVerdict, StreamKey } from '../../replay/guard.js';
import { streamId } from '../../replay/stream-id.js';
import type { ReplayCheck } from '../envelope.js';

/**
 * The retained-message replay policy: a retained message is accepted once per
 * session (this KeyManager's life, or until resetRetainedSession) if its age is
 * within retainedMaxAgeMs. It never moves the live window. Nothing is taken
 * twice: a retained copy of a message the live window accepted is DUPLICATE
 * (REPLAY if it is below the live window, which may have accepted it), and a
 * live copy of a message accepted as retained in this session is DUPLICATE
 * (`live()` wraps the live window with that second rule).
 */
export class RetainedSession implements ReplayCheck {
  readonly #seen = new Set<string>();

  constructor(
    private readonly window: ReplayCheck,
    private readonly clock: Clock,
    private readonly maxAgeMs: number,
    private readonly skewMs: number,
    private readonly maxEntries: number,
  ) {}

  #id(key: StreamKey, seq: number): string {
    return `${streamId(key)}#${seq}`;
  }

  check(key: StreamKey, seq: number, timestampMs: number): ReplayVerdict {
    // The live window's sequence verdict counts (a message it accepted, or one
    // below it that it may have accepted, is not taken again); its time verdict
    // does not (retained messages are old by nature).
    const live = this.window.check(key, seq, timestampMs);
    if (!live.ok && (live.code === 'DUPLICATE' || live.code === 'REPLAY')) return live;
    const now = this.clock();
    if (timestampMs > now + this.skewMs) return { ok: false, code: 'FROM_FUTURE' };
    if (timestampMs < now - this.maxAgeMs) return { ok: false, code: 'TOO_OLD' };
    if (this.#seen.has(this.#id(key, seq))) return { ok: false, code: 'DUPLICATE' };
    return { ok: true };
  }

  async accept(key: StreamKey, seq: number): Promise<void> {
    const id = this.#id(key, seq);
    if (this.#seen.has(id)) throw new SecurityError('DUPLICATE', { sender: key.sender, detail: 'retained message already accepted this session' });
    if (this.#seen.size >= this.maxEntries) this.#seen.delete(this.#seen.values().next().value as string);
    this.#seen.add(id);
  }

  /** The live window, plus: a message accepted as retained in this session is a DUPLICATE live. */
  live(): ReplayCheck {
    return {
      check: (key, seq, timestampMs) =>
        // No retained message accepted yet (the usual case): no id to build per live message.
        this.#seen.size > 0 && this.#seen.has(this.#id(key, seq)) ? { ok: false, code: 'DUPLICATE' } : this.window.check(key, seq, timestampMs),
      accept: async (key, seq, timestampMs) => {
        if (this.#seen.size > 0 && this.#seen.has(this.#id(key, seq))) throw new SecurityError('DUPLICATE', { sender: key.sender });
        await this.window.accept(key, seq, timestampMs);
      },
    };
  }

  reset(): void {
    this.#seen.clear();
  }
}
