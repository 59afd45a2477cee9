// ESM bundles and bundled .d.ts for the package entry points. Every chunk stays
// directly in dist/, so the wasm URL the loader computes ('../wasm/pqc.wasm')
// resolves to the package's wasm/ from dist/ exactly as from bindings/.
//
// The JS is TypeScript's own output, bundled, neither minified nor reformatted:
// it reads like the sources (same names, same line structure, lines no longer
// than the sources'), so a stack trace or an uncaught error shows a line of
// code, not the whole bundle. Comments are stripped: the loader glue a browser
// downloads (dist/bindings.js and its chunks) is ~10.6 KB gzipped without them,
// ~15.0 KB with them, which would break the 60 KiB wasm + glue budget; terser
// minification would save ~1.7 KB more at the cost of readability.
import typescript from '@rollup/plugin-typescript';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dts } from 'rollup-plugin-dts';

const root = fileURLToPath(new URL('.', import.meta.url));
const input = { index: 'src/index.ts', protocol: 'src/protocol-entry.ts', node: 'src/node.ts', bindings: 'bindings/index.ts', 'node-sign-worker': 'src/worker/node-sign-worker.ts' };
const external = (id) => /^(node:|mqtt|comlink)/.test(id);

/**
 * The package ships dist/ but not the TypeScript sources, so each map embeds
 * them (sourcesContent) and names them by their place in the repository
 * relative to the map ('../bindings/errors.ts'): a path inside the package, never
 * one that climbs out of it into whatever directory the package is installed in.
 */
function sourcePathInPackage(relativeSourcePath, sourcemapPath) {
  const absolute = resolve(dirname(sourcemapPath), relativeSourcePath);
  const fromRoot = relative(root, absolute);
  if (fromRoot.startsWith('..') || isAbsolute(fromRoot)) {
    throw new Error(`the source map ${sourcemapPath} would name ${absolute}, outside the package`);
  }
  return relativeSourcePath.replaceAll('\\', '/');
}

export default [
  {
    input,
    external,
    output: {
      dir: 'dist',
      format: 'es',
      entryFileNames: '[name].js',
      chunkFileNames: '[name]-[hash].js',
      sourcemap: true,
      sourcemapPathTransform: sourcePathInPackage,
    },
    plugins: [
      typescript({
        tsconfig: './tsconfig.json',
        include: ['bindings/**/*.ts', 'src/**/*.ts'],
        declaration: false,
        sourceMap: true,
        // TypeScript writes its maps for files under outDir (dist/bindings/x.js) with sources relative to
        // there, while Rollup resolves them from the module's own directory: one '..' too many, which is how
        // the maps came to say '../../bindings/...'. An absolute sourceRoot makes the resolution exact.
        sourceRoot: root,
        // The sources themselves, carried into the final maps as sourcesContent (Rollup keeps them).
        inlineSources: true,
        removeComments: true,
        outDir: 'dist',
        noEmitOnError: true,
      }),
    ],
  },
  {
    input,
    external,
    output: { dir: 'dist', format: 'es', entryFileNames: '[name].d.ts', chunkFileNames: '[name]-[hash].d.ts' },
    plugins: [dts({ tsconfig: './tsconfig.json' })],
  },
];
