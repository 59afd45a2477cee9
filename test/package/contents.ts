// Checks on the unpacked tarball (the `package/` directory `tar -xzf` gives): each returns a list of
// problems, empty when the package is sound, so one assertion shows every problem at once.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { isInside, type PackageJson } from './consumer.js';

/**
 * The longest line of code a shipped .js file may have. TypeScript's output keeps the sources' lines (a few
 * reach ~350 columns where it joins a call's arguments); a minified bundle is one line of 120 KB or more.
 */
export const MAX_JS_LINE = 500;

/**
 * Rollup writes each chunk's import and export lists on one line (index.js exports some 200 names). A list
 * of names is not minified code, and no error can point into it: such lines are exempt.
 */
const NAME_LIST = /^(?:export|import) \{ [\w$]+(?: as [\w$]+)?(?:, [\w$]+(?: as [\w$]+)?)* \}(?: from '[^']+')?;$/;

/** Every file under `dir`, relative, '/'-separated. */
export function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(dir, f)).isFile())
    .map((f) => f.split('\\').join('/'))
    .sort();
}

/** The files the exports map and the main/types fields name, with the .d.ts each import target needs. */
export function checkEntryPoints(pkgDir: string, pkg: PackageJson): string[] {
  const problems: string[] = [];
  const need = (file: string | undefined, what: string): void => {
    if (file === undefined) problems.push(`${what}: not declared`);
    else if (!existsSync(join(pkgDir, file))) problems.push(`${what}: ${file} is not in the tarball`);
  };
  need(pkg.main, 'main');
  need(pkg.types, 'types');
  for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
    if (typeof target === 'string') {
      need(target, `exports['${subpath}']`);
      continue;
    }
    need(target['import'], `exports['${subpath}'].import`);
    need(target['types'], `exports['${subpath}'].types`);
    if (target['import']?.endsWith('.js') && target['types'] !== target['import'].replace(/\.js$/, '.d.ts')) {
      problems.push(`exports['${subpath}']: types ${target['types']} is not the declaration beside ${target['import']}`);
    }
  }
  return problems;
}

/** Every import in every .d.ts: relative ones must be in the tarball, bare ones dependencies, node: or the package itself. */
export function checkDeclarations(pkgDir: string, pkg: PackageJson, files: readonly string[]): string[] {
  const problems: string[] = [];
  const allowed = new Set([pkg.name, ...Object.keys(pkg.dependencies ?? {})]);
  for (const file of files.filter((f) => f.endsWith('.d.ts'))) {
    const text = readFileSync(join(pkgDir, file), 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)['"]([^'"]+)['"]/g)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) {
        const declared = posix.join(posix.dirname(file), spec).replace(/\.js$/, '.d.ts');
        if (!files.includes(declared)) problems.push(`${file} imports ${spec}, but ${declared} is not in the tarball`);
      } else if (!spec.startsWith('node:')) {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!allowed.has(name)) problems.push(`${file} imports ${spec}, which is neither a dependency nor ${pkg.name}`);
      }
    }
  }
  return problems;
}

/** No shipped .js is minified onto long lines; each names its source map, which is in the tarball. */
export function checkReadableJs(pkgDir: string, files: readonly string[]): string[] {
  const problems: string[] = [];
  for (const file of files.filter((f) => f.endsWith('.js'))) {
    const lines = readFileSync(join(pkgDir, file), 'utf8').split('\n');
    const longest = Math.max(...lines.filter((l) => !NAME_LIST.test(l)).map((l) => l.length));
    if (longest > MAX_JS_LINE) problems.push(`${file}: a line of ${longest} characters (at most ${MAX_JS_LINE})`);
    const mapRef = lines.map((l) => /^\/\/# sourceMappingURL=(.+)$/.exec(l)?.[1]).find((v) => v !== undefined);
    if (mapRef === undefined) problems.push(`${file}: no sourceMappingURL`);
    else if (!files.includes(posix.join(posix.dirname(file), mapRef))) problems.push(`${file}: its map ${mapRef} is not in the tarball`);
  }
  return problems;
}

interface SourceMap {
  version: number;
  file?: string;
  sourceRoot?: string;
  sources: string[];
  sourcesContent?: Array<string | null>;
  mappings: string;
}

/**
 * Every .map: each source resolves to a path inside the package, and is either in the tarball or embedded
 * (sourcesContent); an embedded source must be the repository's file at that path, byte for byte.
 */
export function checkSourceMaps(pkgDir: string, files: readonly string[], repoRoot: string): string[] {
  const problems: string[] = [];
  const maps = files.filter((f) => f.endsWith('.map'));
  if (maps.length === 0) problems.push('no source maps in the tarball');
  for (const file of maps) {
    const map = JSON.parse(readFileSync(join(pkgDir, file), 'utf8')) as SourceMap;
    // An entry that only re-exports its chunks (dist/protocol.js) has no code of its own to map: an empty map is right.
    const ownCode = readFileSync(join(pkgDir, file.replace(/\.map$/, '')), 'utf8')
      .split('\n')
      .some((line) => line.trim() !== '' && !/^(export \{[^}]*\} from '[^']+'|import '[^']+');$|^\/\/# sourceMappingURL=/.test(line));
    if (map.version !== 3 || (ownCode && (map.mappings.replace(/;/g, '').length === 0 || map.sources.length === 0))) {
      problems.push(`${file}: not a usable version 3 map`);
    }
    if (map.file !== posix.basename(file, '.map')) problems.push(`${file}: "file" is ${map.file}`);
    map.sources.forEach((source, i) => {
      const absolute = resolve(dirname(join(pkgDir, file)), map.sourceRoot ?? '', source);
      if (!isInside(pkgDir, absolute)) {
        problems.push(`${file}: source ${source} resolves outside the package`);
        return;
      }
      const inPackage = relative(pkgDir, absolute).split('\\').join('/');
      if (files.includes(inPackage)) return;
      const content = map.sourcesContent?.[i];
      if (typeof content !== 'string' || content.length === 0) {
        problems.push(`${file}: source ${source} is neither shipped nor embedded`);
      } else if (!existsSync(join(repoRoot, inPackage)) || readFileSync(join(repoRoot, inPackage), 'utf8') !== content) {
        problems.push(`${file}: the embedded ${source} is not the repository's ${inPackage}`);
      }
    });
  }
  return problems;
}

/** No text file names a directory of the machine that built it (the checkout's path). */
export function checkNoBuildPaths(pkgDir: string, files: readonly string[], buildPaths: readonly string[]): string[] {
  const problems: string[] = [];
  for (const file of files.filter((f) => /\.(js|ts|map|json)$/.test(f))) {
    const text = readFileSync(join(pkgDir, file), 'utf8');
    for (const p of buildPaths) if (text.includes(p)) problems.push(`${file} contains ${p}`);
  }
  return problems;
}
