// The two compilers the build can drive over the same table of units and flags
// (wasm/targets.mjs): clang + wasm-ld from the npm package @yowasp/clang (the
// default: LLVM compiled to WebAssembly, so it runs wherever Node does, pinned by
// package-lock like every other dependency), and Emscripten's emcc when it is
// installed (PQC_WASM_COMPILER=emcc or --compiler emcc). Each driver compiles one
// unit to an object and links objects into a module; wasm/build.mjs does the rest.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './sources.mjs';
import * as t from './targets.mjs';

const run = promisify(execFile);
export const compilers = ['clang', 'emcc'];

/** Forward slashes, whatever the platform: the virtual file system and the flags want them. */
const posix = (p) => p.split(sep).join('/');

/** The files of a directory, recursively, as repo-relative posix paths. */
function listFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path));
    else out.push(posix(relative(repoRoot, path)));
  }
  return out;
}

/** Puts `data` at a slash-separated `path` of a @yowasp tree (nested objects). */
function place(tree, path, data) {
  const parts = path.split('/');
  let node = tree;
  for (const part of parts.slice(0, -1)) node = node[part] ??= {};
  node[parts.at(-1)] = data;
}

/** Runs binaryen's wasm-opt (npm package `binaryen`, a devDependency) over a linked module. */
async function wasmOpt(bytes) {
  const tool = join(repoRoot, 'node_modules', 'binaryen', 'bin', 'wasm-opt');
  const dir = mkdtempSync(join(tmpdir(), 'pqc-wasm-opt-'));
  try {
    writeFileSync(join(dir, 'in.wasm'), bytes);
    await run(process.execPath, [tool, ...t.wasmOptFlags, join(dir, 'in.wasm'), '-o', join(dir, 'out.wasm')], { maxBuffer: 1 << 24 });
    return readFileSync(join(dir, 'out.wasm'));
  } catch (err) {
    if (err.code === 'ENOENT' || /Cannot find module/.test(err.stderr ?? '')) throw new Error('binaryen is not installed: run `npm ci` first.');
    throw new Error(`wasm-opt failed: ${err.stderr || err.message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * clang 21 and wasm-ld from @yowasp/clang, in a virtual file system that holds
 * exactly the inputs (native/ and the pinned files, at their repo-relative
 * paths), so no path of the machine can reach the binary.
 */
async function clangDriver({ sourceDir, pinnedFiles }) {
  let mod;
  try {
    mod = await import('@yowasp/clang');
  } catch (err) {
    throw new Error(`@yowasp/clang is not installed (${err.message}): run \`npm ci\` first.`);
  }
  const versionOf = (pkg) => JSON.parse(readFileSync(join(repoRoot, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  const version = `@yowasp/clang ${versionOf('@yowasp/clang')}, binaryen ${versionOf('binaryen')}`;
  const tree = {};
  for (const rel of listFiles(join(repoRoot, 'native'))) place(tree, rel, readFileSync(join(repoRoot, rel)));
  for (const rel of pinnedFiles) place(tree, posix(relative(repoRoot, join(sourceDir, rel))), readFileSync(join(sourceDir, rel)));
  // Loads LLVM's resources (~100 MB) once, quietly (the compile calls would print their progress), and only
  // when something is compiled: an up-to-date build never needs them.
  let loaded;
  const clang = async (argv, files) => {
    loaded ??= mod.runLLVM(['clang', '--version'], {}, { stdout: () => {}, stderr: () => {}, fetchProgress: () => {} });
    await loaded;
    let stderr = '';
    const decoder = new TextDecoder();
    const collect = (bytes) => {
      if (bytes) stderr += decoder.decode(bytes, { stream: true });
    };
    try {
      return await mod.runClang(['clang', ...argv], files, { stdout: collect, stderr: collect });
    } catch (err) {
      throw new Error(`clang failed: ${argv.join(' ')}\n${stderr || err.message}`);
    }
  };
  return {
    name: 'clang',
    version,
    buildDir: 'build',
    addFile(name, text) {
      place(tree, `build/${name}`, text);
    },
    async compile(file, flags, index) {
      const out = `unit-${String(index).padStart(3, '0')}.o`;
      const result = await clang([...t.clangCompileFlags, ...flags, '-c', file, '-o', out], tree);
      return result[out];
    },
    async link(objects) {
      const files = {};
      const names = objects.map((bytes, i) => {
        const name = `unit-${String(i).padStart(3, '0')}.o`;
        files[name] = bytes;
        return name;
      });
      const exportsFlags = t.exportedFunctions.map((f) => `-Wl,--export=${f}`);
      const result = await clang([...t.clangLinkFlags, ...exportsFlags, ...names, '-o', 'out.wasm'], files);
      return wasmOpt(result['out.wasm']);
    },
    allowedImports: t.clangAllowedImports,
    // One LLVM instance runs at a time in this process; a second one barely helps (TOOLCHAIN.md).
    parallel: 1,
    close() {},
  };
}

/** Debian's (or any) emcc on PATH, with objects in a temporary directory mapped to "build" in the binary. */
async function emccDriver() {
  // Debian's emcc needs Debian's acorn when node is not Debian's.
  const env = { ...process.env, NODE_PATH: [process.env.NODE_PATH, '/usr/share/nodejs'].filter(Boolean).join(':') };
  const emcc = async (argv) => {
    try {
      return await run('emcc', argv, { env, cwd: repoRoot, maxBuffer: 1 << 24 });
    } catch (err) {
      if (err.code === 'ENOENT') {
        throw new Error('emcc not found: install Emscripten (Debian: `apt-get install -y emscripten`), or build with the default compiler (unset PQC_WASM_COMPILER).');
      }
      throw new Error(`emcc failed: ${argv.join(' ')}\n${err.stderr || err.message}`);
    }
  };
  const version = (await emcc(['--version'])).stdout.split('\n')[0].trim();
  const workDir = mkdtempSync(join(tmpdir(), 'pqc-wasm-'));
  const prefixMap = [`-ffile-prefix-map=${repoRoot}=.`, `-ffile-prefix-map=${workDir}=build`];
  return {
    name: 'emcc',
    version,
    buildDir: workDir,
    addFile(name, text) {
      writeFileSync(join(workDir, name), text);
    },
    async compile(file, flags, index) {
      const out = join(workDir, `${String(index).padStart(3, '0')}.o`);
      await emcc([...t.emccCompileFlags, ...prefixMap, ...flags, '-c', file, '-o', out]);
      return readFileSync(out);
    },
    async link(objects) {
      const names = objects.map((bytes, i) => {
        const path = join(workDir, `${String(i).padStart(3, '0')}.o`);
        writeFileSync(path, bytes);
        return path;
      });
      const out = join(workDir, 'out.wasm');
      const exportsFlag = `-sEXPORTED_FUNCTIONS=${t.exportedFunctions.map((f) => '_' + f).join(',')}`;
      await emcc([...t.emccLinkFlags, ...prefixMap, exportsFlag, ...names, '-o', out]);
      return readFileSync(out);
    },
    allowedImports: t.emccAllowedImports,
    parallel: Math.max(1, cpus().length),
    close() {
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** The compiler to use: --compiler NAME, else PQC_WASM_COMPILER, else clang. */
export function chooseCompiler(args, env = process.env) {
  const i = args.indexOf('--compiler');
  const name = i >= 0 ? args[i + 1] : env.PQC_WASM_COMPILER || 'clang';
  if (!compilers.includes(name)) throw new Error(`unknown compiler '${name}': use ${compilers.join(' or ')} (--compiler or PQC_WASM_COMPILER).`);
  return name;
}

/** Starts a driver; `inputs` tells the clang driver which pinned files to put in its file system. */
export function openDriver(name, inputs) {
  return name === 'emcc' ? emccDriver() : clangDriver(inputs);
}
