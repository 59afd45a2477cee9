// The floors of the SDK (docs/ARCHITECTURE.md) and the checker that holds the
// code to them. A file may import from its own floor or from a lower one,
// never from a higher one; bindings/ sits below all of src/ and never imports
// it; on one floor, the rooms (folders, or single files at the top of src/)
// may import each other in one direction only, so no two of them grow into
// each other. Every file must stand on a floor: a new folder is placed in the
// table on purpose, not by default.

import { posix } from 'node:path';
import type { ImportRef } from './read-imports.js';

export interface Floor {
  readonly level: number;
  readonly name: string;
  /** Folders (ending in '/') or single files, as paths from the repository root. */
  readonly rooms: readonly string[];
}

/** An import allowed against the rules, with the reason; the goal is none. */
export interface Exception {
  readonly from: string;
  readonly to: string;
  readonly why: string;
}

export const FLOORS: readonly Floor[] = [
  // The wasm core's bindings: below every floor of src/, and import nothing from it.
  { level: -1, name: 'bindings', rooms: ['bindings/'] },
  // Bytes, text and time: what every floor above encodes, checks and compares.
  { level: 0, name: 'ground', rooms: ['src/errors.ts', 'src/clock.ts', 'src/wire/', 'src/topic/', 'src/util/'] },
  { level: 1, name: 'primitives and state', rooms: ['src/crypto/', 'src/storage/'] },
  { level: 2, name: 'keys, trust and replay', rooms: ['src/identity/', 'src/certs/', 'src/replay/'] },
  { level: 3, name: 'protocol', rooms: ['src/protocol/'] },
  { level: 4, name: 'client', rooms: ['src/worker/', 'src/client/'] },
  { level: 5, name: 'entry points', rooms: ['src/index.ts', 'src/protocol-entry.ts', 'src/node.ts'] },
];

/** Upward imports the tree still has. Each names its import exactly and says why it stays. */
export const EXCEPTIONS: readonly Exception[] = [];

interface Place {
  readonly floor: Floor;
  readonly room: string;
}

/** The floor and room of a file, or undefined if the table does not cover it. */
export function placeOf(file: string, floors: readonly Floor[]): Place | undefined {
  let best: Place | undefined;
  for (const floor of floors) {
    for (const room of floor.rooms) {
      const inside = room.endsWith('/') ? file.startsWith(room) : file === room;
      if (inside && (best === undefined || room.length > best.room.length)) best = { floor, room };
    }
  }
  return best;
}

/**
 * The file a relative specifier names ('./x.js' -> 'dir/x.ts'), or undefined for
 * a package or built-in ('mqtt', 'node:fs'), which no floor holds.
 */
export function resolveSpecifier(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const target = posix.normalize(posix.join(posix.dirname(from), specifier));
  return target.endsWith('.js') ? `${target.slice(0, -3)}.ts` : target;
}

/**
 * Every breach of the rules in `files` (path -> its imports), one line each;
 * empty when the tree keeps them. Exceptions that no import uses any more are
 * breaches too, so the list can only shrink.
 */
export function checkFloors(files: ReadonlyMap<string, readonly ImportRef[]>, floors = FLOORS, exceptions = EXCEPTIONS): string[] {
  const problems: string[] = [];
  const used = new Set<Exception>();
  // room -> rooms of the same floor it imports, with one import that shows it
  const sideways = new Map<string, Map<string, string>>();

  for (const [file, imports] of files) {
    const here = placeOf(file, floors);
    if (here === undefined) {
      problems.push(`${file}: on no floor (add its folder to FLOORS in test/architecture/floors.ts and to docs/ARCHITECTURE.md)`);
      continue;
    }
    for (const { specifier, line } of imports) {
      const at = `${file}:${line}`;
      if (specifier === undefined) {
        problems.push(`${at}: a computed import specifier, which cannot be checked (write it as a string literal or a const)`);
        continue;
      }
      const target = resolveSpecifier(file, specifier);
      if (target === undefined) continue;
      const there = placeOf(target, floors);
      const exception = exceptions.find((e) => e.from === file && e.to === target);
      if (there === undefined) {
        problems.push(`${at}: imports ${target}, which is on no floor`);
      } else if (here.floor.level === -1 && there.floor.level !== -1) {
        problems.push(`${at}: imports ${target}: bindings/ never imports src/`);
      } else if (there.floor.level > here.floor.level) {
        if (exception !== undefined) used.add(exception);
        else problems.push(`${at}: imports ${target}, up from floor ${here.floor.level} (${here.floor.name}) to floor ${there.floor.level} (${there.floor.name})`);
      } else if (there.floor.level === here.floor.level && there.room !== here.room) {
        const out = sideways.get(here.room) ?? new Map<string, string>();
        if (!out.has(there.room)) out.set(there.room, `${at} imports ${target}`);
        sideways.set(here.room, out);
      }
    }
  }
  problems.push(...roomCycles(sideways));
  for (const e of exceptions) if (!used.has(e)) problems.push(`exception ${e.from} -> ${e.to} is not needed any more: remove it`);
  return problems;
}

/** Each pair of rooms on one floor that import each other, directly or around a loop, once. */
function roomCycles(edges: ReadonlyMap<string, ReadonlyMap<string, string>>): string[] {
  const problems: string[] = [];
  const reported = new Set<string>();
  for (const start of edges.keys()) {
    // Depth-first search for a way back to `start`; the rooms of one floor are few.
    const path: string[] = [start];
    const seen = new Set<string>();
    const back = (room: string): boolean => {
      for (const next of edges.get(room)?.keys() ?? []) {
        if (next === start) return true;
        if (seen.has(next)) continue;
        seen.add(next);
        path.push(next);
        if (back(next)) return true;
        path.pop();
      }
      return false;
    };
    if (!back(start)) continue;
    const key = [...path].sort().join(' ');
    if (reported.has(key)) continue;
    reported.add(key);
    const steps = path.map((room, i) => edges.get(room)!.get(path[(i + 1) % path.length]!)!);
    problems.push(`rooms of one floor import each other: ${[...path, start].join(' -> ')} (${steps.join('; ')})`);
  }
  return problems;
}
