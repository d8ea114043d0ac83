#!/usr/bin/env node
// Committed shim so pnpm can link the bin on a fresh clone before dist/ exists.
import '../dist/main.js';
