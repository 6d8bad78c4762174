#!/usr/bin/env node
// `npm start`: builds the page and serves it on localhost (WebGPU needs a secure context: localhost or https).
import { spawnSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const vite = path.join(root, 'node_modules/vite/bin/vite.js');
const port = process.env.PORT || '5173';

const built = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { stdio: 'inherit', cwd: root });
if (built.status !== 0) {
  console.error('headlab: the build failed (see above). Did `npm ci` finish?');
  process.exit(1);
}
console.log(
  `\nheadlab is served at  http://localhost:${port}/\n` +
    'Open it in Chrome or Edge 113+. On Linux, enable chrome://flags/#enable-unsafe-webgpu first (see README). Ctrl-C stops.\n',
);
const server = spawn(process.execPath, [vite, 'preview', '--host', '127.0.0.1', '--port', port, '--strictPort'], {
  stdio: 'inherit',
  cwd: root,
});
server.on('exit', (code) => process.exit(code ?? 0));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.kill(sig));
