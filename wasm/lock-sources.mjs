// Writes native/sources.lock from the installed pinned package. Run by hand when
// the pin is deliberately moved (`node wasm/lock-sources.mjs`), never by the build.
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { lockPath, repoRoot, sha256 } from './sources.mjs';
import { sourceDirs, aliasedFalconDirs, commonSources, commonHeaders } from './targets.mjs';

const pkg = 'pqclean';
const root = 'deps/PQClean';
const pkgDir = join(repoRoot, 'node_modules', pkg);
const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
const integrity = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')).packages[
  `node_modules/${pkg}`
].integrity;

const files = {};
const add = (rel) => (files[rel] = sha256(readFileSync(join(pkgDir, root, rel))));
for (const dir of sourceDirs) {
  for (const name of readdirSync(join(pkgDir, root, dir)).sort()) {
    if (name.endsWith('.c') || name.endsWith('.h')) add(`${dir}/${name}`);
  }
}
for (const dir of aliasedFalconDirs) {
  for (const name of readdirSync(join(pkgDir, root, dir)).sort()) {
    if (name.endsWith('.c') || name.endsWith('.h')) add(`${dir}/${name}`);
  }
}
for (const rel of [...commonSources, ...commonHeaders].sort()) add(rel);

const lock = { package: pkg, version, integrity, root, files };
writeFileSync(lockPath, JSON.stringify(lock, null, 2) + '\n');
console.log(`wrote ${lockPath}: ${pkg}@${version}, ${Object.keys(files).length} files`);
