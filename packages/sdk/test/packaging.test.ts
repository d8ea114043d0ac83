// Issue 8 item 19: what a user gets from npm. Every package states its metadata, says plainly that it
// is ESM-only when require()d, builds before it is packed, ships the sources its source maps point at,
// and the SDK does not install ioredis (or the Redis store) for users who never configure Redis: both
// are optional peers, loaded on first use with an error naming the packages to install.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { loadRedisStore, REDIS_INSTALL_COMMAND } from '../src/load-redis-store.js';

const REPO = join(import.meta.dirname, '..', '..', '..');
const PACKAGES = readdirSync(join(REPO, 'packages')).filter((dir) =>
  existsSync(join(REPO, 'packages', dir, 'package.json')),
);

interface Manifest {
  name: string;
  private?: boolean;
  keywords?: string[];
  homepage?: string;
  bugs?: { url?: string };
  repository?: { type?: string; url?: string; directory?: string };
  author?: string;
  license?: string;
  files?: string[];
  scripts?: Record<string, string>;
  exports?: Record<string, Record<string, string>>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

function manifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(REPO, 'packages', dir, 'package.json'), 'utf8')) as Manifest;
}

describe('every package.json', () => {
  it.each(PACKAGES)('%s has repository, homepage, bugs, keywords, author and license', (dir) => {
    const pkg = manifest(dir);
    expect(pkg.repository).toEqual({
      type: 'git',
      url: 'git+https://github.com/agent-safe/agent-safe.git',
      directory: `packages/${dir}`,
    });
    expect(pkg.homepage).toBe(`https://github.com/agent-safe/agent-safe/tree/main/packages/${dir}#readme`);
    expect(pkg.bugs?.url).toBe('https://github.com/agent-safe/agent-safe/issues');
    expect(pkg.keywords).toEqual(expect.arrayContaining(['agent-safe']));
    expect(pkg.author).toBeTruthy();
    expect(pkg.license).toBe('Apache-2.0');
  });

  it.each(PACKAGES)('%s builds before packing and ships its sources and the ESM-only stub', (dir) => {
    const pkg = manifest(dir);
    expect(pkg.scripts?.prepack).toBe(`turbo run build --filter=${pkg.name} --output-logs=errors-only`);
    expect(pkg.files).toEqual(expect.arrayContaining(['dist', 'src', 'README.md', 'esm-only.cjs']));
    for (const [subpath, conditions] of Object.entries(pkg.exports ?? {})) {
      expect([subpath, Object.keys(conditions)]).toEqual([subpath, ['types', 'import', 'require']]);
      expect(conditions.require).toBe('./esm-only.cjs');
    }
  });
});

describe('require() of an ESM-only package', () => {
  it('throws a clear error naming the package and how to load it, for every package', () => {
    const project = mkdtempSync(join(tmpdir(), 'agent-safe-require-'));
    mkdirSync(join(project, 'node_modules', '@agent-safe'), { recursive: true });
    for (const dir of PACKAGES) {
      symlinkSync(join(REPO, 'packages', dir), join(project, 'node_modules', '@agent-safe', dir));
    }
    const names = PACKAGES.map((dir) => manifest(dir).name);
    const script = `const out = {};
for (const name of ${JSON.stringify(names)}) {
  try { require(name); out[name] = 'loaded'; } catch (error) { out[name] = [error.code, error.message]; }
}
console.log(JSON.stringify(out));`;
    const output = execFileSync(process.execPath, ['-e', script], { cwd: project, encoding: 'utf8' });
    const results = JSON.parse(output) as Record<string, [string, string]>;
    for (const name of names) {
      expect(results[name]).toEqual([
        'ERR_REQUIRE_ESM',
        `${name} is ESM-only: use import { … } from '${name}' (in an ES module: "type": "module" or a .mjs file), or await import('${name}') from CommonJS.`,
      ]);
    }
  });
});

describe('npm pack', () => {
  it.each(['sdk', 'cli'])('of %s ships dist and every source a source map points at', (dir) => {
    const packageDir = join(REPO, 'packages', dir);
    const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: packageDir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const [packed] = JSON.parse(output) as [{ files: { path: string }[] }];
    const files = new Set(packed.files.map((file) => file.path));
    expect(files.has('dist/index.js')).toBe(true);
    expect(files.has('esm-only.cjs')).toBe(true);
    const maps = [...files].filter((file) => file.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    const dangling: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(packageDir, map), 'utf8')) as { sources: string[] };
      for (const source of sources) {
        const shipped = normalize(join(dirname(map), source));
        if (!files.has(shipped)) dangling.push(`${map} -> ${source}`);
      }
    }
    expect(dangling).toEqual([]);
  });
});

describe('optional Redis packages', () => {
  it('ioredis is an optional peer of store-redis, and store-redis an optional peer of the SDK', () => {
    const redis = manifest('store-redis');
    expect(redis.dependencies?.ioredis).toBeUndefined();
    expect(redis.peerDependencies?.ioredis).toBe('catalog:');
    expect(redis.peerDependenciesMeta?.ioredis?.optional).toBe(true);
    const sdk = manifest('sdk');
    expect(sdk.dependencies?.['@agent-safe/store-redis']).toBeUndefined();
    expect(sdk.peerDependencies?.['@agent-safe/store-redis']).toBe('workspace:^');
    expect(sdk.peerDependenciesMeta?.['@agent-safe/store-redis']?.optional).toBe(true);
    for (const dir of PACKAGES) {
      if (dir !== 'store-redis') expect([dir, manifest(dir).dependencies?.ioredis]).toEqual([dir, undefined]);
    }
  });

  it('a missing package is named with the command that installs it', async () => {
    const missing = (name: string) => () =>
      Promise.reject(
        Object.assign(new Error(`Cannot find package '${name}' imported from /app/x.js`), {
          code: 'ERR_MODULE_NOT_FOUND',
        }),
      );
    await expect(loadRedisStore(missing('ioredis'))).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining(`ioredis is not installed: run "${REDIS_INSTALL_COMMAND}"`),
    });
    await expect(loadRedisStore(missing('@agent-safe/store-redis'))).rejects.toMatchObject({
      message: expect.stringContaining('@agent-safe/store-redis is not installed'),
    });
    // Any other failure is not disguised as a missing package.
    await expect(loadRedisStore(missing('@agent-safe/core'))).rejects.toThrow(/Cannot find package/);
  });

  /**
   * An application that installed the SDK alone: its node_modules holds the SDK (copied, so it does not
   * see the workspace's links) and the other packages, but not store-redis, then store-redis but not
   * ioredis. Configuring a redis:// store gives a DENY (guards) and a rejection (nonce store) naming both
   * packages and the install command; without Redis, checks work.
   */
  it('an installed SDK without the Redis packages works, and names them when Redis is configured', () => {
    const app = mkdtempSync(join(tmpdir(), 'agent-safe-app-'));
    const scope = join(app, 'node_modules', '@agent-safe');
    mkdirSync(scope, { recursive: true });
    for (const dir of PACKAGES) {
      if (dir === 'sdk' || dir === 'store-redis' || dir === 'cli') continue;
      symlinkSync(join(REPO, 'packages', dir), join(scope, dir));
    }
    const copy = (dir: string) => {
      cpSync(join(REPO, 'packages', dir, 'package.json'), join(scope, dir, 'package.json'));
      cpSync(join(REPO, 'packages', dir, 'dist'), join(scope, dir, 'dist'), { recursive: true });
    };
    copy('sdk');
    const fixture = join(import.meta.dirname, 'fixtures', 'project');
    const script = `import { AgentSafe, openNonceStore } from '@agent-safe/sdk';
const options = { registry: ${JSON.stringify(join(fixture, 'actions'))}, policies: ${JSON.stringify(join(fixture, 'policies'))},
  inventory: ${JSON.stringify(join(fixture, 'inventory.yaml'))}, auditLog: false };
const request = { action: 'restart-deployment', target: 'dev/app', caller: 'agent-1', params: { namespace: 'dev', deployment: 'app' } };
const plain = new AgentSafe(options);
const out = { memory: (await plain.check(request)).result };
await plain.close();
const redis = new AgentSafe({ ...options, store: 'redis://127.0.0.1:1', rateLimit: { maxRequests: 5, windowSeconds: 60 } });
const decision = await redis.check(request);
out.redis = [decision.result, decision.reason];
await redis.close();
out.nonces = await openNonceStore('redis://127.0.0.1:1').then(() => 'opened', (error) => [error.code, error.message]);
console.log(JSON.stringify(out));`;
    const run = () => {
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: app,
        encoding: 'utf8',
      });
      expect(result.stderr).toBe('');
      return JSON.parse(result.stdout) as {
        memory: string;
        redis: [string, string];
        nonces: [string, string];
      };
    };
    const install = `run "${REDIS_INSTALL_COMMAND}"`;
    const withoutStore = run();
    expect(withoutStore.memory).toBe('ALLOW');
    expect(withoutStore.redis[0]).toBe('DENY');
    expect(withoutStore.redis[1]).toContain(
      `needs the optional packages @agent-safe/store-redis and ioredis, and @agent-safe/store-redis is not installed: ${install}`,
    );
    expect(withoutStore.nonces[0]).toBe('USAGE');
    expect(withoutStore.nonces[1]).toContain(install);

    copy('store-redis');
    const withoutClient = run();
    expect(withoutClient.memory).toBe('ALLOW');
    expect(withoutClient.redis[1]).toContain(`and ioredis is not installed: ${install}`);
    expect(withoutClient.nonces[1]).toContain(`and ioredis is not installed: ${install}`);
  });
});
