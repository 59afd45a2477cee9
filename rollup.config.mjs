// ESM bundles and bundled .d.ts for the package entry points. Every chunk stays
// directly in dist/, so the wasm URL the loader computes ('../wasm/pqc.wasm')
// resolves to the package's wasm/ from dist/ exactly as from bindings/.
import terser from '@rollup/plugin-terser';
import typescript from '@rollup/plugin-typescript';
import { dts } from 'rollup-plugin-dts';

const input = { index: 'src/index.ts', node: 'src/node.ts', bindings: 'bindings/index.ts', 'node-sign-worker': 'src/worker/node-sign-worker.ts' };
const external = (id) => /^(node:|mqtt|comlink)/.test(id);

export default [
  {
    input,
    external,
    output: { dir: 'dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js', sourcemap: true },
    plugins: [
      typescript({
        tsconfig: './tsconfig.json',
        include: ['bindings/**/*.ts', 'src/**/*.ts'],
        declaration: false,
        sourceMap: true,
        outDir: 'dist',
        noEmitOnError: true,
      }),
      // Browsers download the glue: minified (names of exported classes and errors kept, so stack traces
      // and `err.name` still read well); the source maps lead back to the TypeScript.
      terser({ ecma: 2020, module: true, keep_classnames: true, keep_fnames: false, format: { comments: false } }),
    ],
  },
  {
    input,
    external,
    output: { dir: 'dist', format: 'es', entryFileNames: '[name].d.ts', chunkFileNames: '[name]-[hash].d.ts' },
    plugins: [dts({ tsconfig: './tsconfig.json' })],
  },
];
