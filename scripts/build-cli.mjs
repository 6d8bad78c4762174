#!/usr/bin/env node
// Bundles the headlab command into dist/cli/headlab.mjs: every JS dependency and WGSL source inlined, only `webgpu`
// (Dawn's native module) left external.
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const quiet = process.argv.includes('--quiet');

/** `import code from './x.wgsl?raw'`, as Vite does it. */
const rawText = {
  name: 'raw-text',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: path.resolve(args.resolveDir, args.path.replace(/\?raw$/, '')),
      namespace: 'raw-text',
    }));
    b.onLoad({ filter: /.*/, namespace: 'raw-text' }, async (args) => ({
      contents: await readFile(args.path, 'utf8'),
      loader: 'text',
      watchFiles: [args.path],
    }));
  },
};

await build({
  entryPoints: [path.join(root, 'src/cli/main.ts')],
  outfile: path.join(root, 'dist/cli/headlab.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['webgpu'],
  plugins: [rawText],
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __headlabRequire } from 'node:module';\nconst require = __headlabRequire(import.meta.url);" },
  logLevel: quiet ? 'warning' : 'info',
  legalComments: 'none',
});
