// The held messages of one lane (a publisher's numbering unit, see
// receiver.ts), ordered so the one to reject first is found at once: a
// max-heap on (sequence number, arrival order), the far-ahead ones in a sorted
// list, every copy by sequence number. The structures and their operations
// only; the receiver decides what is held and what goes.

/** An amortised message decrypted and checked, waiting for its manifest. */
export interface HeldAmortised<M> {
  /** sender \n channel \n topic \n epoch */
  readonly stream: string;
  /** Its (sender, key epoch, channel): the quotas and base it counts against. Default: the stream. */
  readonly lane?: string;
  readonly seq: number;
  readonly digest: Uint8Array;
  readonly heldAt: number;
  /** Bytes it counts against the byte bounds (its plaintext). Default 0. */
  readonly size?: number;
  readonly message: M;
}

export interface Slot<M> {
  readonly h: HeldAmortised<M>;
  /** stream \n seq \n digest (hex): isHeld() without a scan of the copies. */
  readonly key: string;
  readonly lane: Lane<M>;
  readonly size: number;
  /** Arrival order (ties between equal sequence numbers: the latest goes first). */
  readonly order: number;
  live: boolean;
}

export interface Lane<M> {
  readonly id: string;
  count: number;
  bytes: number;
  /** Every held copy by sequence number, over the lane's topics and epochs (in arrival order). */
  readonly bySeq: Map<number, Set<Slot<M>>>;
  /** Max-heap on (seq, order); removed slots stay until they surface (live = false). */
  heap: Slot<M>[];
  /** The held messages numbered more than maxAhead above the base, in increasing (seq, order). */
  ahead: Slot<M>[];
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
export const hex = (b: Uint8Array): string => {
  let out = '';
  for (const x of b) out += HEX[x]!;
  return out;
};

/** a is evicted before b. */
const ahead = <M>(a: Slot<M>, b: Slot<M>): boolean => a.h.seq > b.h.seq || (a.h.seq === b.h.seq && a.order > b.order);

export const copyKey = (stream: string, seq: number, digest: Uint8Array): string => `${stream}\n${seq}\n${hex(digest)}`;

export function push<K, V>(map: Map<K, Set<V>>, key: K, v: V): void {
  const set = map.get(key);
  if (set === undefined) map.set(key, new Set([v]));
  else set.add(v);
}

export function pull<K, V>(map: Map<K, Set<V>>, key: K, v: V): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(v);
  if (set.size === 0) map.delete(key);
}

/** Inserts into an array kept in increasing (seq, order). */
export function insertSorted<M>(list: Slot<M>[], s: Slot<M>): void {
  let i = list.length;
  while (i > 0 && ahead(list[i - 1]!, s)) i--;
  list.splice(i, 0, s);
}

export function heapPush<M>(heap: Slot<M>[], s: Slot<M>): void {
  heap.push(s);
  let i = heap.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!ahead(heap[i]!, heap[p]!)) break;
    [heap[i], heap[p]] = [heap[p]!, heap[i]!];
    i = p;
  }
}

export function heapPop<M>(heap: Slot<M>[]): void {
  const last = heap.pop()!;
  if (heap.length === 0) return;
  heap[0] = last;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let top = i;
    if (l < heap.length && ahead(heap[l]!, heap[top]!)) top = l;
    if (r < heap.length && ahead(heap[r]!, heap[top]!)) top = r;
    if (top === i) return;
    [heap[i], heap[top]] = [heap[top]!, heap[i]!];
    i = top;
  }
}

export function rebuild<M>(lane: Lane<M>): Slot<M>[] {
  const heap: Slot<M>[] = [];
  for (const copies of lane.bySeq.values()) for (const s of copies) heapPush(heap, s);
  return heap;
}
