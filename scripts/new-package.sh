#!/usr/bin/env bash
# Creates the skeleton of a workspace package: scripts/new-package.sh <name> "<description>"
set -euo pipefail
name=$1; description=$2
dir=packages/$name
mkdir -p "$dir/src" "$dir/test"
cat > "$dir/package.json" <<JSON
{
  "name": "@agent-safe/$name",
  "version": "0.1.0",
  "description": "$description",
  "keywords": ["agent-safe", "ai-agents", "governance"],
  "homepage": "https://github.com/agent-safe/agent-safe/tree/main/packages/$name#readme",
  "bugs": { "url": "https://github.com/agent-safe/agent-safe/issues" },
  "repository": { "type": "git", "url": "git+https://github.com/agent-safe/agent-safe.git", "directory": "packages/$name" },
  "license": "Apache-2.0",
  "author": "Agent-Safe contributors",
  "type": "module",
  "main": "./dist/index.js",
  "types": "./dist/index.d.ts",
  "exports": { ".": { "types": "./dist/index.d.ts", "import": "./dist/index.js", "require": "./esm-only.cjs" } },
  "files": ["dist", "README.md", "src", "esm-only.cjs"],
  "engines": { "node": ">=20.11" },
  "scripts": {
    "build": "node ../../scripts/clean-dist.mjs && tsc -p tsconfig.build.json",
    "typecheck": "tsc -p tsconfig.json --noEmit",
    "lint": "biome ci src test",
    "test": "node --experimental-vm-modules --no-warnings=ExperimentalWarning ../../node_modules/jest/bin/jest.js",
    "prepack": "turbo run build --filter=@agent-safe/$name --output-logs=errors-only"
  },
  "dependencies": {}
}
JSON
sed "s|@agent-safe/sdk|@agent-safe/$name|g" packages/sdk/esm-only.cjs > "$dir/esm-only.cjs"
cat > "$dir/tsconfig.json" <<JSON
{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": { "noEmit": true, "rootDir": "." },
  "include": ["src", "test", "bench"]
}
JSON
cat > "$dir/tsconfig.build.json" <<JSON
{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": { "outDir": "dist", "rootDir": "src" },
  "include": ["src"]
}
JSON
cat > "$dir/jest.config.js" <<JS
import { jestConfig } from '../../jest.preset.js';

export default jestConfig(import.meta.dirname);
JS
