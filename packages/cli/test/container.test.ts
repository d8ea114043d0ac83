// Issue 13: the container packaging. Base images cannot be pulled here, so the image is not built; this
// test checks what can be checked without it:
//  - the Dockerfile's promises (multi-stage, non-root numeric user, WORKDIR /config, EXPOSE 8080, a
//    HEALTHCHECK with node and no curl, the serve ENTRYPOINT);
//  - the run stage's layout (the files its `cp` lines copy: the CLI's package.json, bin, dist, schemas and
//    node_modules/yaml, nothing else) serves decisions from a directory with no other node_modules, with
//    the image's environment, writing only to the state directory;
//  - examples/kubernetes/sidecar.yaml: parsed as kubectl parses it (YAML 1.1), its security settings,
//    probes and volumes, and its ConfigMap's project decides as its comments say (served by that layout).
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { cli } from './run-cli.js';

const REPO = join(import.meta.dirname, '..', '..', '..');
const CLI_DIR = join(REPO, 'packages', 'cli');
const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) && pending === '') continue;
    const joined = pending + line.replace(/\\$/, '');
    if (line.endsWith('\\')) {
      pending = `${joined} `;
      continue;
    }
    pending = '';
    const match = /^\s*([A-Z]+)\s+(.*)$/.exec(joined);
    if (match?.[1] && match[2] !== undefined) out.push({ keyword: match[1], args: match[2].trim() });
  }
  return out;
}

const all = instructions(dockerfile);
const lastFrom = all.map((instruction) => instruction.keyword).lastIndexOf('FROM');
const runStage = all.slice(lastFrom);
const one = (keyword: string) => {
  const found = runStage.filter((instruction) => instruction.keyword === keyword);
  expect(found).toHaveLength(1);
  return found[0]?.args ?? '';
};

describe('Dockerfile', () => {
  it('builds in one stage and runs the CLI bundle as a non-root numeric user in another', () => {
    expect(all.filter((instruction) => instruction.keyword === 'FROM')).toHaveLength(2);
    expect(all[lastFrom]?.args).not.toMatch(/ AS build/);
    expect(runStage.some((i) => i.keyword === 'COPY' && i.args === '--from=build /out /opt/agent-safe')).toBe(
      true,
    );
    const user = one('USER');
    expect(user).toMatch(/^\d+:\d+$/);
    expect(user.startsWith('0:')).toBe(false);
    expect(one('WORKDIR')).toBe('/config');
    expect(one('EXPOSE')).toBe('8080');
    expect(JSON.parse(one('ENTRYPOINT'))).toEqual(['agent-safe']);
    expect(JSON.parse(one('CMD'))).toEqual(['serve', '--host', '0.0.0.0', '--port', '8080']);
    expect(one('VOLUME')).toBe('["/var/lib/agent-safe"]');
  });

  it('checks health with node (no curl in slim images) on /healthz', () => {
    const check = one('HEALTHCHECK');
    expect(check).not.toMatch(/curl|wget/);
    const command = JSON.parse(check.slice(check.indexOf('CMD ') + 4)) as string[];
    expect(command.slice(0, 2)).toEqual(['node', '-e']);
    expect(dockerfile).toContain('AGENT_SAFE_HEALTH_URL=http://127.0.0.1:8080/healthz');
  });

  it('keeps the build context free of installed, built and secret files (.dockerignore)', () => {
    const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['.git', '**/node_modules', '**/dist', '**/*.secret', '**/keys', '**/audit.jsonl']) {
      expect(ignored).toContain(entry);
    }
  });
});

// ---- the run stage's layout, serving the sidecar example's ConfigMap project ----

// biome-ignore lint/suspicious/noExplicitAny: parsed manifests and decisions are asserted field by field
type Json = Record<string, any>;

const sidecarDocs = parseAllDocuments(
  readFileSync(join(REPO, 'examples', 'kubernetes', 'sidecar.yaml'), 'utf8'),
  {
    version: '1.1', // as kubectl (go-yaml) reads it: 0400 is octal
  },
).map((doc) => {
  expect(doc.errors).toEqual([]);
  return doc.toJS() as Json;
});
const configMap = sidecarDocs.find((doc) => doc.kind === 'ConfigMap') ?? {};
const deployment = sidecarDocs.find((doc) => doc.kind === 'Deployment') ?? {};
const pod = deployment.spec?.template?.spec ?? {};
const sidecar = (pod.initContainers ?? []).find((c: { name: string }) => c.name === 'agent-safe') ?? {};
const agent = (pod.containers ?? []).find((c: { name: string }) => c.name === 'agent') ?? {};
const volume = (name: string) => (pod.volumes ?? []).find((v: { name: string }) => v.name === name) ?? {};

let server: ChildProcessWithoutNullStreams | undefined;
let url = '';
let output = '';
let project = '';
let state = '';
let imageBin = '';

/** Copies what the Dockerfile's build stage puts in /out (its `cp` lines, asserted below). */
function imageLayout(root: string): string {
  const opt = join(root, 'opt', 'agent-safe');
  mkdirSync(join(opt, 'node_modules'), { recursive: true });
  for (const entry of ['package.json', 'bin', 'dist', 'schemas']) {
    cpSync(join(CLI_DIR, entry), join(opt, entry), { recursive: true });
  }
  cpSync(join(CLI_DIR, 'node_modules', 'yaml'), join(opt, 'node_modules', 'yaml'), {
    recursive: true,
    dereference: true,
  });
  return opt;
}

/** The ConfigMap's files where the volume's `items` put them, with the pod's paths moved under root. */
function configMapProject(root: string, keys: string): string {
  const dir = join(root, 'config');
  for (const item of volume('project').configMap.items as { key: string; path: string }[]) {
    const file = join(dir, item.path);
    mkdirSync(dirname(file), { recursive: true });
    const text = String(configMap.data[item.key])
      .replaceAll('/var/lib/agent-safe', state)
      .replaceAll('/run/agent-safe/keys', keys);
    writeFileSync(file, text);
  }
  return dir;
}

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), 'agent-safe-image-'));
  const opt = imageLayout(root);
  imageBin = join(opt, 'bin', 'agent-safe.js');
  state = join(root, 'var', 'lib', 'agent-safe');
  mkdirSync(state, { recursive: true });
  const keys = join(root, 'run', 'agent-safe', 'keys');
  expect(cli(['identity', 'keygen', '--out', keys], root).code).toBe(0);
  project = configMapProject(root, keys);
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('AGENT_SAFE_') && key !== 'NODE_PATH') env[key] = value;
  }
  server = spawn(
    process.execPath,
    [join(opt, 'bin', 'agent-safe.js'), 'serve', '--host', '127.0.0.1', '--port', '0'],
    {
      cwd: project,
      // The image's ENV.
      env: { ...env, NODE_ENV: 'production', HOME: state, AGENT_SAFE_CACHE_DIR: join(state, 'cache') },
    },
  );
  url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const found = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (found?.[1]) resolve(found[1]);
    };
    server?.stdout.on('data', onData);
    server?.stderr.on('data', onData);
    server?.once('exit', (code) => reject(new Error(`serve exited (${code}):\n${output}`)));
  });
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((done) => server?.once('exit', done));
    server.kill('SIGTERM');
    await exited;
  }
});

async function post(path: string, body: unknown): Promise<Json> {
  const response = await fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Json;
}

describe('the run stage layout serving the sidecar ConfigMap project', () => {
  it("is what the Dockerfile's build stage copies", () => {
    expect(dockerfile).toContain(
      'cp -r packages/cli/package.json packages/cli/bin packages/cli/dist packages/cli/schemas /out/',
    );
    expect(dockerfile).toContain('cp -rL packages/cli/node_modules/yaml /out/node_modules/yaml');
  });

  it('answers /healthz and /readyz, and decides as the ConfigMap comments say', async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect(await ready.json()).toMatchObject({ status: 'ok' });
    const dev = await post('/v1/check', {
      action: 'restart-deployment',
      target: 'dev/test-app',
      caller: 'deploy-agent',
      params: { namespace: 'dev', deployment: 'app' },
    });
    expect(dev).toMatchObject({ result: 'ALLOW', matchedRule: 'allow-dev' });
    expect(dev.ticket.token).toMatch(/^eyJ/);
    const prod = await post('/v1/check', {
      action: 'restart-deployment',
      target: 'prod/api-server',
      caller: 'deploy-agent',
      params: { namespace: 'prod', deployment: 'api-server' },
    });
    expect(prod).toMatchObject({ result: 'REQUIRE_APPROVAL', matchedRule: 'approve-prod' });
  });

  it('runs a one-shot command when given arguments (ENTRYPOINT agent-safe): check prints the decision', () => {
    const run = spawnSync(
      process.execPath,
      [
        imageBin,
        'check',
        'restart-deployment',
        '--target',
        'prod/api-server',
        '--caller',
        'deploy-agent',
        '--params',
        '{"namespace":"prod","deployment":"api-server"}',
        '--no-audit',
        '--json-output',
      ],
      { cwd: project, encoding: 'utf8', env: { ...process.env, HOME: state } },
    );
    expect(run.status).toBe(3);
    expect(JSON.parse(run.stdout)).toMatchObject({
      command: 'check',
      exitCode: 3,
      data: { result: 'REQUIRE_APPROVAL', matchedRule: 'approve-prod' },
    });
  });

  it('writes only to the state volume: the audit log is there, the project directory is unchanged', () => {
    expect(readdirSync(project).sort()).toEqual(['actions', 'agent-safe.yaml', 'inventory.yaml', 'policies']);
    const audit = readFileSync(join(state, 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"restart-deployment"');
  });
});

describe('examples/kubernetes/sidecar.yaml', () => {
  it('runs the sidecar non-root with a read-only root filesystem, on loopback, with probes', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 });
    for (const container of [...pod.initContainers, ...pod.containers]) {
      expect(container.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
    }
    expect(sidecar.restartPolicy).toBe('Always');
    expect(sidecar.command).toEqual(['agent-safe', 'serve', '--host', '127.0.0.1', '--port', '8080']);
    expect(sidecar.workingDir).toBe('/config');
    for (const [probe, path] of [
      ['startupProbe', '/healthz'],
      ['livenessProbe', '/healthz'],
      ['readinessProbe', '/readyz'],
    ] as const) {
      const command = sidecar[probe].exec.command as string[];
      expect(command.slice(0, 2)).toEqual(['node', '-e']);
      expect(command[2]).toContain(`http://127.0.0.1:8080${path}`);
    }
    expect(agent.env).toContainEqual({ name: 'AGENT_SAFE_URL', value: 'http://localhost:8080' });
  });

  it('mounts the project read-only, the signing key 0400 for the sidecar only, the audit log on a volume', () => {
    expect(volume('signing-key-secret').secret).toEqual({
      secretName: 'agent-safe-signing-key',
      defaultMode: 0o400,
    });
    expect(volume('signing-key').emptyDir.medium).toBe('Memory');
    expect(volume('state').emptyDir).toEqual({ sizeLimit: '1Gi' });
    const mounts = Object.fromEntries(
      sidecar.volumeMounts.map((m: { name: string; mountPath: string; readOnly?: boolean }) => [m.name, m]),
    );
    expect(mounts.project).toEqual({ name: 'project', mountPath: '/config', readOnly: true });
    expect(mounts['signing-key']).toMatchObject({ mountPath: '/run/agent-safe', readOnly: true });
    expect(mounts.state.mountPath).toBe('/var/lib/agent-safe');
    expect(mounts.state.readOnly).toBeUndefined();
    expect(agent.volumeMounts).toBeUndefined();
    expect(String(configMap.data['agent-safe.yaml'])).toContain('audit_log: /var/lib/agent-safe/audit.jsonl');
    expect(String(configMap.data['agent-safe.yaml'])).toContain(
      'signing_key: file:/run/agent-safe/keys/signing-key.secret',
    );
  });
});
