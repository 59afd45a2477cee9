// What `npm test` needs beyond npm, made ready before the tests run:
// - Mosquitto (the broker tests) and Chromium (the browser tests). On a Debian-like machine as root, the
//   missing ones are installed with apt-get, saying so; anywhere else this stops at once with the exact
//   command to run on that system, before a single test runs.
// - The emcc-built module: wherever Emscripten's emcc is installed (and in CI, CI=true, where this
//   installs Debian's emscripten), both modules are built with emcc into wasm/build/emcc/, and
//   vitest.config.ts runs the KAT, cross-check, memory and heap tests against it too. Without emcc (or with
//   PQC_TEST_EMCC=0) they are not run, and this says so.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const EMCC_DIR = join(root, 'wasm', 'build', 'emcc');
const say = (m) => console.log(`test setup: ${m}`);

function onPath(cmd) {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/usr/local/sbin']);
  return dirs.some((d) => d && existsSync(join(d, cmd)));
}

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const missing = [];
if (!(process.env.MOSQUITTO_BIN ? existsSync(process.env.MOSQUITTO_BIN) : onPath('mosquitto'))) missing.push('mosquitto');
if (!existsSync(chromiumPath)) missing.push('chromium');
const wantEmcc = process.env.CI === 'true' && !onPath('emcc');

const debianRoot = process.platform === 'linux' && existsSync('/etc/debian_version') && process.getuid?.() === 0 && onPath('apt-get');
const packages = [...missing, ...(wantEmcc && debianRoot ? ['emscripten'] : [])];
if (packages.length > 0) {
  if (!debianRoot) {
    const lines = [`the tests need ${missing.join(' and ')}, which this machine lacks. Install, then run \`npm test\` again:`];
    if (process.platform === 'linux' && existsSync('/etc/debian_version')) {
      lines.push(`  sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`);
    } else if (process.platform === 'darwin') {
      if (missing.includes('mosquitto')) lines.push('  brew install mosquitto');
      if (missing.includes('chromium')) lines.push('  brew install --cask chromium && export CHROMIUM_PATH="/Applications/Chromium.app/Contents/MacOS/Chromium"');
    } else {
      if (missing.includes('mosquitto')) lines.push('  Mosquitto 2.x from mosquitto.org; set MOSQUITTO_BIN to its path if it is not on PATH');
      if (missing.includes('chromium')) lines.push('  Chromium (or Chrome); set CHROMIUM_PATH to its executable');
    }
    lines.push('(`npm run demo` needs neither.)');
    console.error(`test setup: ${lines.join('\n')}`);
    process.exit(1);
  }
  say(`installing ${packages.join(', ')} from Debian with apt-get (about a minute)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (argv) => {
    const r = spawnSync('apt-get', argv, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) {
      console.error(`test setup: \`apt-get ${argv.join(' ')}\` failed (exit ${r.status}); install ${packages.join(' ')} yourself and run \`npm test\` again.`);
      process.exit(1);
    }
  };
  apt(['update', '-qq']);
  apt(['install', '-y', '-qq', '--no-install-recommends', ...packages]);
}

const skipEmcc = process.env.PQC_TEST_EMCC === '0';
if (onPath('emcc') && !skipEmcc) {
  const failed = (why) => {
    rmSync(EMCC_DIR, { recursive: true, force: true });
    console.error(
      `test setup: emcc is on PATH but could not build the modules (${why}). Fix that Emscripten, or run ` +
        '`PQC_TEST_EMCC=0 npm test` to test the default (clang) build alone.',
    );
    process.exit(1);
  };
  let version;
  try {
    version = execFileSync('emcc', ['--version'], { encoding: 'utf8', env: { ...process.env, NODE_PATH: '/usr/share/nodejs' } }).split('\n')[0];
  } catch (err) {
    failed(`\`emcc --version\` failed: ${err.message.split('\n')[0]}`);
  }
  say(`${version}: building both modules with emcc into wasm/build/emcc/ for the KAT, cross-check, memory and heap tests`);
  const r = spawnSync(process.execPath, [join(root, 'wasm', 'build.mjs'), '--compiler', 'emcc', '--out-dir', EMCC_DIR], { stdio: 'inherit' });
  if (r.status !== 0) failed(`wasm/build.mjs --compiler emcc exited with ${r.status}`);
} else if (skipEmcc) {
  rmSync(EMCC_DIR, { recursive: true, force: true });
  say('PQC_TEST_EMCC=0: the KAT, cross-check, memory and heap tests run against the default (clang) build only');
} else {
  rmSync(EMCC_DIR, { recursive: true, force: true });
  say('emcc is not installed: the KAT, cross-check, memory and heap tests run against the default (clang) build only');
}
