// Bundles the init templates and the curated catalogues into dist/templates so `agent-safe init`
// works from an installed package, without the repository. Each YAML file gets a first line naming its
// JSON Schema (schemas/, shipped in this package) for editors running yaml-language-server, so `init`
// scaffolds files that editors complete and check; the catalogue itself stays free of it.
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, 'dist', 'templates');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(join(root, 'templates'), out, { recursive: true });
cpSync(join(root, '..', '..', 'catalog', 'kubernetes'), join(out, 'actions'), { recursive: true });
// `init --catalog aws|all`: the AWS catalogue with its own inventory, policy rules and tests (templates/aws/).
cpSync(join(root, '..', '..', 'catalog', 'aws'), join(out, 'aws', 'actions'), { recursive: true });
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const versionFile = readFileSync(join(root, 'src', 'version.ts'), 'utf8');
if (!versionFile.includes(`'${version}'`)) {
  throw new Error(`src/version.ts does not match package.json version ${version}; update it`);
}

/** The schema of each scaffolded file, by its path in the project. */
function schemaFor(path) {
  if (path.startsWith(`aws${sep}`)) return schemaFor(path.slice(4));
  const [first] = path.split(sep);
  if (path === 'agent-safe.yaml') return 'agent-safe';
  if (path === 'inventory.yaml') return 'inventory';
  if (first === 'actions') return 'action';
  if (first === 'policies') return 'policy';
  if (first === 'tests') return 'policy-tests';
  return undefined;
}

function* yamlFiles(directory) {
  for (const name of readdirSync(directory)) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) yield* yamlFiles(path);
    else if (/\.ya?ml$/.test(name)) yield path;
  }
}

for (const file of yamlFiles(out)) {
  const schema = schemaFor(relative(out, file));
  if (schema === undefined) throw new Error(`no JSON Schema for template ${relative(out, file)}`);
  const text = readFileSync(file, 'utf8');
  if (text.startsWith('# yaml-language-server:')) continue;
  const modeline = `# yaml-language-server: $schema=https://unpkg.com/@agent-safe/cli@${version}/schemas/${schema}.schema.json`;
  writeFileSync(file, `${modeline}\n${text}`);
}
