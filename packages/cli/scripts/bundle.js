// Bundles the CLI into one ES module (dist/agent-safe.bundle.mjs). Loading ~80 small modules costs
// Node ~70 ms of resolution and compilation; one file costs a fraction of that, which keeps
// `agent-safe check` start-up near Node's own. The YAML library stays external: it is loaded lazily,
// only when a file is not in the parse cache.
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
await build({
  stdin: {
    contents:
      "import { runCli } from './main.js';\nprocess.exitCode = await runCli(process.argv.slice(2));\n",
    resolveDir: join(root, 'dist'),
    sourcefile: 'agent-safe-entry.js',
    loader: 'js',
  },
  outfile: join(root, 'dist', 'agent-safe.bundle.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['yaml'],
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  legalComments: 'linked',
  logLevel: 'warning',
});
