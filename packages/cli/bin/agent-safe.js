#!/usr/bin/env node
// Committed shim so pnpm can link the bin on a fresh clone before dist/ exists.
// The bundle (dist/bundle/) starts faster; dist/bin-entry.js is the unbundled fallback.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/bundle/agent-safe.mjs', import.meta.url);
await import(existsSync(bundle) ? bundle.href : '../dist/bin-entry.js');
