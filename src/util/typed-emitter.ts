// A small typed event emitter that runs the same in Node, browsers and
// workers. A listener that throws cannot break the emitter's caller (the MQTT
// pipeline): the exception is passed to `onListenerError`.

type Listener<A extends unknown[]> = (...args: A) => void;

export type EventMap = { [event: string]: unknown[] };

export class TypedEmitter<E extends EventMap> {
  private readonly listeners = new Map<keyof E, Listener<never[]>[]>();

  /** Called with an exception thrown by a listener; default: rethrown asynchronously (visible, not swallowed). */
  protected onListenerError(err: unknown, event: keyof E): void {
    queueMicrotask(() => {
      throw err instanceof Error ? err : new Error(`listener for '${String(event)}' threw ${String(err)}`);
    });
  }

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const list = this.listeners.get(event) ?? [];
    list.push(listener as unknown as Listener<never[]>);
    this.listeners.set(event, list);
    return this;
  }

  once<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const wrapper = (...args: E[K]): void => {
      this.off(event, wrapper);
      listener(...args);
    };
    return this.on(event, wrapper);
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const list = this.listeners.get(event);
    if (list) {
      const i = list.indexOf(listener as unknown as Listener<never[]>);
      if (i >= 0) list.splice(i, 1);
    }
    return this;
  }

  removeAllListeners(event?: keyof E): this {
    if (event === undefined) this.listeners.clear();
    else this.listeners.delete(event);
    return this;
  }

  listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.length ?? 0;
  }

  /** Calls every listener of `event`; returns whether there was any. */
  emit<K extends keyof E>(event: K, ...args: E[K]): boolean {
    const list = this.listeners.get(event);
    if (!list || list.length === 0) return false;
    for (const listener of [...list]) {
      try {
        (listener as unknown as Listener<E[K]>)(...args);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
    return true;
  }
}
