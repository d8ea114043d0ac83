// Bundles the init templates and the curated catalogue into dist/templates so `agent-safe init`
// works from an installed package, without the repository.
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, 'dist', 'templates');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(join(root, 'templates'), out, { recursive: true });
cpSync(join(root, '..', '..', 'catalog', 'kubernetes'), join(out, 'actions'), { recursive: true });
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const versionFile = readFileSync(join(root, 'src', 'version.ts'), 'utf8');
if (!versionFile.includes(`'${version}'`)) {
  throw new Error(`src/version.ts does not match package.json version ${version}; update it`);
}
