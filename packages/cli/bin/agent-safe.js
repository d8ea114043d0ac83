#!/usr/bin/env node
// Committed shim so pnpm can link the bin on a fresh clone before dist/ exists.
// The single-file bundle starts faster; dist/main.js is the unbundled fallback.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/agent-safe.bundle.mjs', import.meta.url);
if (existsSync(bundle)) {
  await import(bundle.href);
} else {
  const { runCli } = await import('../dist/main.js');
  process.exitCode = await runCli(process.argv.slice(2));
}
