// Bundles the CLI into dist/bundle/ (ES modules with code splitting). Loading ~100 small modules costs
// Node tens of milliseconds of resolution and compilation; one entry file plus chunks loaded on demand
// (identity and tickets only when keys are configured, the Redis client only with a Redis store) keeps
// `agent-safe check` start-up near Node's own. The YAML library stays external and is loaded lazily,
// only when a file is not in the parse cache. The Kubernetes executor (@agent-safe/executor-k8s, an optional
// peer, with @kubernetes/client-node) stays external too: it is loaded only by `runner execute --executor
// kubernetes` and `credential test-vault --vault kubernetes`, from where the user installed it. So do the
// AWS executor (@agent-safe/executor-aws, an optional peer) and every AWS SDK client (@aws-sdk/*): loaded
// only by `runner execute --executor aws`, `--credentials aws`, `credential test-vault --vault
// aws|secrets-manager` and the S3 audit shipper, never at start-up.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const outdir = join(root, 'dist', 'bundle');
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { 'agent-safe': join(root, 'dist', 'bin-entry.js') },
  outdir,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: [
    'yaml',
    '@agent-safe/executor-k8s',
    '@kubernetes/client-node',
    '@agent-safe/executor-aws',
    '@aws-sdk/*',
  ],
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  legalComments: 'linked',
  logLevel: 'warning',
});
