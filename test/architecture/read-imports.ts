// Every import of a TypeScript file, read from its syntax tree (not with a
// regular expression, which would miss multi-line imports and match imports
// inside strings and comments): static imports (`import type` too), `export
// ... from`, dynamic `import(...)`, `import('...')` types, `import x =
// require(...)` and `require(...)`. A dynamic import of a computed specifier is
// resolved when it names a string constant of the same file, the one way the
// codebase computes one (bindings/loader.ts, to keep bundlers off node:fs);
// any other is reported with `specifier: undefined` so the checker can refuse it.

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ts from 'typescript';

export interface ImportRef {
  /** The module specifier as written, or undefined if it is computed and could not be resolved. */
  readonly specifier: string | undefined;
  /** 1-based line of the import. */
  readonly line: number;
}

/** The imports of one file's source text. */
export function readImports(fileName: string, text: string): ImportRef[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const constants = stringConstants(source);
  const found: ImportRef[] = [];
  const add = (node: ts.Node, specifier: string | undefined): void => {
    found.push({ specifier, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 });
  };
  const literal = (node: ts.Node | undefined): string | undefined =>
    node !== undefined && ts.isStringLiteralLike(node) ? node.text : undefined;

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      if (node.moduleSpecifier !== undefined) add(node, literal(node.moduleSpecifier));
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, literal(node.moduleReference.expression));
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, literal(node.argument.literal));
    } else if (ts.isCallExpression(node) && isImportOrRequire(node)) {
      const arg = node.arguments[0];
      add(node, literal(arg) ?? (arg !== undefined && ts.isIdentifier(arg) ? constants.get(arg.text) : undefined));
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function isImportOrRequire(call: ts.CallExpression): boolean {
  return call.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(call.expression) && call.expression.text === 'require');
}

/** `const name = 'text'` declarations of the file; a name declared twice with different values is left out. */
function stringConstants(source: ts.SourceFile): Map<string, string> {
  const values = new Map<string, string | undefined>();
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer && ts.isStringLiteralLike(node.initializer)) {
      const prior = values.get(node.name.text);
      values.set(node.name.text, values.has(node.name.text) && prior !== node.initializer.text ? undefined : node.initializer.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  const out = new Map<string, string>();
  for (const [name, value] of values) if (value !== undefined) out.set(name, value);
  return out;
}

/** Every .ts file (declaration files too) below `dirs`, keyed by its path from `root` with '/' separators. */
export function readTree(root: string, dirs: readonly string[]): Map<string, ImportRef[]> {
  const files = new Map<string, ImportRef[]>();
  for (const dir of dirs) {
    for (const entry of readdirSync(join(root, dir), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
      const absolute = join(entry.parentPath, entry.name);
      files.set(relative(root, absolute).split(sep).join('/'), readImports(absolute, readFileSync(absolute, 'utf8')));
    }
  }
  return files;
}
