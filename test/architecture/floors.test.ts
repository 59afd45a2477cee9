// The dependency rule of docs/ARCHITECTURE.md, enforced: every import of
// src/ and bindings/ goes down a floor or stays on its own, bindings/ never
// imports src/, and every file stands on a floor. The checker is proved on a
// small tree with one breach of each kind before it is trusted with the real one.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXCEPTIONS, FLOORS, checkFloors, placeOf, type Floor } from './floors.js';
import { readImports, readTree, type ImportRef } from './read-imports.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('the source tree', () => {
  const tree = readTree(root, ['src', 'bindings']);

  it('keeps the floors', () => {
    expect(tree.size).toBeGreaterThan(60); // the walk found the tree
    expect(checkFloors(tree)).toEqual([]);
  });

  it('has no exceptions left', () => {
    expect(EXCEPTIONS).toEqual([]);
  });

  it('docs/ARCHITECTURE.md names every room of the table', () => {
    const doc = readFileSync(new URL('../../docs/ARCHITECTURE.md', import.meta.url), 'utf8');
    const missing = FLOORS.flatMap((f) => f.rooms).filter((room) => !doc.includes(`\`${room}\``));
    expect(missing).toEqual([]);
  });
});

describe('readImports', () => {
  it('finds every kind of import, and a computed specifier held in a const', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      'import {',
      '  c,',
      "} from './c.js';",
      "export * from './d.js';",
      "export { e } from './e.js';",
      "const f = await import('./f.js');",
      "type G = typeof import('./g.js');",
      "import h = require('./h.js');",
      "const name = 'node:fs/promises';",
      'const i = await import(name);',
      'const j = await import(`./${name}.js`);',
      "const s = 'import { x } from \"./not-an-import.js\"';",
      "// import { y } from './nor-this.js';",
    ].join('\n');
    expect(readImports('x.ts', text)).toEqual([
      { specifier: './a.js', line: 1 },
      { specifier: '../b.js', line: 2 },
      { specifier: './c.js', line: 3 },
      { specifier: './d.js', line: 6 },
      { specifier: './e.js', line: 7 },
      { specifier: './f.js', line: 8 },
      { specifier: './g.js', line: 9 },
      { specifier: './h.js', line: 10 },
      { specifier: 'node:fs/promises', line: 12 },
      { specifier: undefined, line: 13 },
    ]);
  });
});

describe('checkFloors', () => {
  const floors: readonly Floor[] = [
    { level: -1, name: 'bindings', rooms: ['bindings/'] },
    { level: 0, name: 'ground', rooms: ['src/errors.ts', 'src/wire/', 'src/topic/'] },
    { level: 1, name: 'middle', rooms: ['src/certs/', 'src/identity/'] },
    { level: 2, name: 'top', rooms: ['src/protocol/'] },
  ];
  const imports = (...specifiers: (string | undefined)[]): ImportRef[] => specifiers.map((specifier, i) => ({ specifier, line: i + 1 }));

  it('accepts imports down a floor, within a room, one way across rooms, and of packages', () => {
    const tree = new Map([
      ['src/protocol/direct.ts', imports('../certs/certificate.js', '../wire/codec.js', './envelope.js', 'mqtt', 'node:fs', '../../bindings/index.js')],
      ['src/certs/certificate.ts', imports('../identity/identity.js', '../errors.js')],
      ['src/wire/codec.ts', imports('../errors.js', '../topic/grammar.js')],
      ['bindings/index.ts', imports('./core.js', 'node:fs/promises')],
    ]);
    expect(checkFloors(tree, floors, [])).toEqual([]);
  });

  it('lists every breach: upward, bindings into src, off the table, computed, rooms both ways', () => {
    const tree = new Map([
      ['src/identity/identity.ts', imports('../wire/codec.js', '../protocol/labels.js', '../certs/format.js')],
      ['src/certs/certificate.ts', imports('../identity/identity.js')],
      ['src/wire/fields.ts', imports('../certs/wire.js')],
      ['bindings/errors.ts', imports('../src/errors.js')],
      ['src/cli/main.ts', imports('../protocol/index.js')],
      ['src/topic/grammar.ts', imports('../../test/helpers.js', undefined)],
    ]);
    expect(checkFloors(tree, floors, [])).toEqual([
      'src/identity/identity.ts:2: imports src/protocol/labels.ts, up from floor 1 (middle) to floor 2 (top)',
      'src/wire/fields.ts:1: imports src/certs/wire.ts, up from floor 0 (ground) to floor 1 (middle)',
      'bindings/errors.ts:1: imports src/errors.ts: bindings/ never imports src/',
      'src/cli/main.ts: on no floor (add its folder to FLOORS in test/architecture/floors.ts and to docs/ARCHITECTURE.md)',
      'src/topic/grammar.ts:1: imports test/helpers.ts, which is on no floor',
      'src/topic/grammar.ts:2: a computed import specifier, which cannot be checked (write it as a string literal or a const)',
      'rooms of one floor import each other: src/identity/ -> src/certs/ -> src/identity/ ' +
        '(src/identity/identity.ts:3 imports src/certs/format.ts; src/certs/certificate.ts:1 imports src/identity/identity.ts)',
    ]);
  });

  it('lets a named exception through, and refuses one nothing needs any more', () => {
    const tree = new Map([['src/identity/identity.ts', imports('../protocol/labels.js')]]);
    const exception = { from: 'src/identity/identity.ts', to: 'src/protocol/labels.ts', why: 'test' };
    expect(checkFloors(tree, floors, [exception])).toEqual([]);
    expect(checkFloors(new Map(), floors, [exception])).toEqual(['exception src/identity/identity.ts -> src/protocol/labels.ts is not needed any more: remove it']);
  });

  it('places a file in the most specific room', () => {
    const nested: readonly Floor[] = [...floors, { level: 3, name: 'nested', rooms: ['src/protocol/handlers/'] }];
    expect(placeOf('src/protocol/handlers/direct.ts', nested)?.floor.level).toBe(3);
    expect(placeOf('src/protocol/direct.ts', nested)?.floor.level).toBe(2);
    expect(placeOf('src/errors.ts.bak', nested)).toBeUndefined();
  });
});
