// The pinned C sources: where they are, what the lock says, and the check that
// they are exactly what the lock says before a single file is compiled.
import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const lockPath = join(repoRoot, 'native', 'sources.lock');

/** The lock: which package, which version, which hash, which files (path -> sha256). */
export function readLock(path = lockPath) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

export function packageDir(lock) {
  return join(repoRoot, 'node_modules', lock.package);
}

export function sourceRoot(lock) {
  return join(packageDir(lock), lock.root);
}

export function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

class SourceCheckError extends Error {}

/**
 * Throws with a message that names the file and says what to do when anything
 * differs from the lock: version, package-lock integrity, or a file's hash.
 */
export function verifySources(lock = readLock()) {
  const pkgDir = packageDir(lock);
  const fail = (msg) => {
    throw new SourceCheckError(`pinned C sources: ${msg}`);
  };
  if (!existsSync(join(pkgDir, 'package.json'))) {
    fail(`${lock.package} is not installed (node_modules/${lock.package}); run \`npm ci\` first.`);
  }
  const installed = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
  if (installed !== lock.version) {
    fail(`installed ${lock.package} is ${installed}, native/sources.lock pins ${lock.version}; run \`npm ci\`.`);
  }
  const pkgLock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8'));
  const entry = pkgLock.packages?.[`node_modules/${lock.package}`];
  if (!entry || entry.version !== lock.version || entry.integrity !== lock.integrity) {
    fail(
      `package-lock.json records ${lock.package}@${entry?.version} with integrity ${entry?.integrity}; ` +
        `native/sources.lock pins ${lock.version} with ${lock.integrity}. They must agree.`,
    );
  }
  const root = sourceRoot(lock);
  for (const [rel, expected] of Object.entries(lock.files)) {
    const path = join(root, rel);
    if (!existsSync(path)) fail(`${rel} is missing from ${lock.package}@${lock.version}.`);
    const actual = sha256(readFileSync(path));
    if (actual !== expected) {
      fail(`${rel} has sha256 ${actual}, native/sources.lock expects ${expected}. Refusing to build.`);
    }
  }
  return { root, files: Object.keys(lock.files).length };
}
