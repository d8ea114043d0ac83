import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuditLog } from '@agent-safe/audit';
import {
  type ActionDefinition,
  Credential,
  type CredentialProvider,
  type ExecutionContext,
  type ExecutionOutcome,
  type ExecutionRequest,
  type Executor,
  type PrecheckOutcome,
} from '@agent-safe/core';
import {
  type KubernetesCredentialApi,
  KubernetesCredentialProvider,
  httpsKubernetesApi,
} from '@agent-safe/credentials';
import { ActionRegistry } from '@agent-safe/registry';
import { TicketIssuer, TicketValidator } from '@agent-safe/tickets';
import { type K8sCluster, startK8sCluster } from '../../executor-k8s/test/k8s-cluster.js';
import { Runner, credentialResolver } from '../src/index.js';
import { SECRET, newClock } from './helpers.js';

// The runner with the real KubernetesCredentialProvider on a real kube-apiserver (RBAC on), real tickets,
// a real hash-chained audit file and the shipped catalogue. Never skipped: without the binaries this
// fails and names the command that installs them.
const CATALOG = join(import.meta.dirname, '..', '..', '..', 'catalog', 'kubernetes');
const SCALE = { namespace: 'shop', deployment: 'web', replicas: 3 };

let cluster: K8sCluster;
let ca: string;
let admin: KubernetesCredentialApi;
let registry: ActionRegistry;
let dir: string;
let auditPath: string;
let audit: AuditLog;
let provider: KubernetesCredentialProvider;
const clock = newClock();
const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET, clock, ttlSeconds: 60 });
const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock, clockSkewSeconds: 0 });
let decisions = 0;

const as = (token: string): KubernetesCredentialApi => httpsKubernetesApi({ server: cluster.url, ca, token });

async function ok(response: Promise<{ status: number; body: unknown }>): Promise<void> {
  const { status, body } = await response;
  if (status < 200 || status > 299) throw new Error(`setup failed: HTTP ${status} ${JSON.stringify(body)}`);
}

function deployment(name: string): unknown {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'shop' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      },
    },
  };
}

async function replicas(name: string): Promise<number> {
  const response = await admin.request('GET', `/apis/apps/v1/namespaces/shop/deployments/${name}`);
  return (response.body as { spec: { replicas: number } }).spec.replicas;
}

/** A ticket for a fresh decision: each run's credential is named after its own decision audit id. */
async function ticketFor(
  action: string,
  params: Record<string, unknown>,
): Promise<{ token: string; auditId: string }> {
  decisions += 1;
  const auditId = `evt_decision_${decisions}`;
  const issued = await issuer.issue({
    action,
    target: 'shop-web',
    caller: 'deploy-bot',
    params,
    auditId,
    policyRevision: 'rev1',
  });
  return { token: issued.token, auditId };
}

/** The objects of every credential still on the server (found by the label every one carries). */
async function leftovers(): Promise<string[]> {
  const selector = '?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dagent-safe';
  const found: string[] = [];
  for (const path of [
    '/api/v1/namespaces/agent-safe/serviceaccounts',
    '/apis/rbac.authorization.k8s.io/v1/rolebindings',
    '/apis/rbac.authorization.k8s.io/v1/roles',
    '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
    '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  ]) {
    const response = await admin.request('GET', `${path}${selector}`);
    expect(response.status).toBe(200);
    for (const item of (response.body as { items: { kind?: string; metadata: { name: string } }[] }).items) {
      found.push(`${path.split('/').pop()}/${item.metadata.name}`);
    }
  }
  return found;
}

/** PATCH with a merge patch as `token`; the status code. */
async function patchAs(token: string, path: string, patch: unknown, signal?: AbortSignal): Promise<number> {
  const { request } = await import('node:https');
  const body = JSON.stringify(patch);
  return await new Promise<number>((resolve, reject) => {
    const req = request(
      new URL(path, cluster.url),
      {
        method: 'PATCH',
        ca,
        signal,
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/merge-patch+json',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function tokenOf(context: ExecutionContext): string {
  if (!(context.credentials instanceof Credential)) throw new Error('no Credential handle in the context');
  return (context.credentials as Credential<{ token: string }>).material.token;
}

/**
 * A tiny Kubernetes executor for scale-deployment that acts ONLY with the run's credential (never the
 * admin token): reads state and scales through the API with the token from `context.credentials`.
 */
class TokenScaleExecutor implements Executor {
  readonly name = 'token-scale';
  readonly tokens: string[] = [];
  readonly statuses: Record<string, number> = {};
  /** Runs between the first read and the patch (the test revokes the credential here). */
  midRun: (context: ExecutionContext) => Promise<void> = async () => undefined;
  mode: 'scale' | 'fail' | 'hang' = 'scale';

  plan(): [] {
    return [];
  }

  async precheck(): Promise<PrecheckOutcome> {
    return { status: 'pass', reason: 'not checked by this test executor' };
  }

  async readState(request: ExecutionRequest, fields: readonly string[], context: ExecutionContext) {
    const path = `/apis/apps/v1/namespaces/${String(request.params.namespace)}/deployments/${String(request.params.deployment)}`;
    const response = await as(tokenOf(context)).request('GET', path);
    if (response.status !== 200) throw new Error(`reading the deployment failed: HTTP ${response.status}`);
    const body = response.body as { spec: { replicas: number }; status: { readyReplicas?: number } };
    const state: Record<string, unknown> = {
      replicas: body.spec.replicas,
      ready_replicas: body.status.readyReplicas ?? 0,
    };
    return Object.fromEntries(Object.entries(state).filter(([name]) => fields.includes(name)));
  }

  async execute(request: ExecutionRequest, context: ExecutionContext): Promise<ExecutionOutcome> {
    const token = tokenOf(context); // a client built once, as a real executor would
    this.tokens.push(token);
    if (this.mode === 'fail') return { ok: false, error: 'the executor gave up (test)' };
    if (this.mode === 'hang') {
      await new Promise((resolve) => context.signal.addEventListener('abort', resolve, { once: true }));
      return { ok: false, error: 'aborted' };
    }
    const base = `/apis/apps/v1/namespaces/${String(request.params.namespace)}/deployments`;
    this.statuses.read = (
      await as(token).request('GET', `${base}/${String(request.params.deployment)}`)
    ).status;
    await this.midRun(context);
    const patch = { spec: { replicas: request.params.replicas } };
    this.statuses.scale = await patchAs(token, `${base}/${String(request.params.deployment)}/scale`, patch);
    // The same token on ANOTHER deployment of the same namespace: resource_names must refuse it.
    this.statuses.other = await patchAs(token, `${base}/api/scale`, patch);
    if (this.statuses.scale !== 200) {
      return { ok: false, error: `scaling failed: HTTP ${this.statuses.scale} (the credential was refused)` };
    }
    return { ok: true, output: { replicas: request.params.replicas } };
  }
}

function runner(resolver = credentialResolver(provider), actions: ActionRegistry = registry): Runner {
  return new Runner({
    actions,
    validator,
    auditSink: audit,
    clock,
    credentials: resolver,
    timeoutMs: 30_000,
  });
}

beforeAll(async () => {
  cluster = await startK8sCluster();
  ca = await readFile(cluster.caPath, 'utf8');
  admin = as(cluster.adminToken);
  for (const name of ['agent-safe', 'shop']) {
    await ok(
      admin.request('POST', '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name },
      }),
    );
  }
  for (const name of ['web', 'api']) {
    await ok(admin.request('POST', '/apis/apps/v1/namespaces/shop/deployments', deployment(name)));
  }
  registry = await ActionRegistry.load(CATALOG);
  provider = new KubernetesCredentialProvider({ api: admin, namespace: 'agent-safe' });
  dir = await mkdtemp(join(tmpdir(), 'agent-safe-resolver-'));
  auditPath = join(dir, 'audit.jsonl');
  audit = await AuditLog.open(auditPath);
}, 180_000);

afterAll(async () => {
  await audit?.close();
  await cluster?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('credentialResolver with KubernetesCredentialProvider through the Runner (real API server)', () => {
  it('the run acts with a scoped token for its own object only; the credential is gone after the run', async () => {
    const executor = new TokenScaleExecutor();
    const { token: ticket, auditId } = await ticketFor('scale-deployment', SCALE);
    const result = await runner().execute(ticket, { params: SCALE, executor });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('succeeded');
    expect(executor.statuses).toEqual({ read: 200, scale: 200, other: 403 });
    expect(await replicas('web')).toBe(3);
    expect(await replicas('api')).toBe(1);
    expect(result.diff).toEqual({ replicas: { before: 1, after: 3 } });

    // The audit shows the credential's id and the clamped ttl, named after the decision's audit id.
    const step = result.steps.find((entry) => entry.name === 'credentials')!;
    expect(step.status).toBe('ok');
    expect(step.detail).toMatch(
      /^agent-safe\/agent-safe-evt-decision-\d+-[0-9a-f]{12} \(kubernetes-token, expires /,
    );
    expect(step.detail).toMatch(/ttl 300 s raised to 600 s/);
    expect(step.detail).toContain(auditId.replaceAll('_', '-'));
    expect(result.steps.find((entry) => entry.name === 'revoke')).toMatchObject({ status: 'ok' });

    // Revoked: nothing left on the server; the token is refused (403 at once, 401 once the cache forgets it).
    expect(await leftovers()).toEqual([]);
    const token = executor.tokens[0]!;
    expect(
      await patchAs(token, '/apis/apps/v1/namespaces/shop/deployments/web/scale', { spec: { replicas: 1 } }),
    ).toBe(403);
    expect([401, 403]).toContain(
      (await as(token).request('GET', '/apis/apps/v1/namespaces/shop/deployments/web')).status,
    );

    // The token never reaches the audit file.
    const log = await readFile(auditPath, 'utf8');
    expect(log).toContain('kubernetes-token');
    expect(log).not.toContain(token);
    expect(JSON.stringify(result)).not.toContain(token);
  });

  it('revokes after a failed run', async () => {
    const executor = new TokenScaleExecutor();
    executor.mode = 'fail';
    const { token: ticket } = await ticketFor('scale-deployment', SCALE);
    const result = await runner().execute(ticket, { params: SCALE, executor });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'EXECUTION_FAILED' } });
    expect(result.steps.find((entry) => entry.name === 'revoke')).toMatchObject({ status: 'ok' });
    expect(await leftovers()).toEqual([]);
    expect((await readFile(auditPath, 'utf8')).includes(executor.tokens[0]!)).toBe(false);
  });

  it('revokes after a timeout', async () => {
    const executor = new TokenScaleExecutor();
    executor.mode = 'hang';
    const { token: ticket } = await ticketFor('scale-deployment', SCALE);
    const result = await runner().execute(ticket, { params: SCALE, executor, timeoutMs: 3000 });
    expect(result).toMatchObject({ status: 'timed_out', error: { code: 'TIMEOUT' } });
    expect(executor.tokens).toHaveLength(1);
    expect(result.steps.find((entry) => entry.name === 'revoke')).toMatchObject({ status: 'ok' });
    expect(await leftovers()).toEqual([]);
    expect((await readFile(auditPath, 'utf8')).includes(executor.tokens[0]!)).toBe(false);
  }, 30_000);

  it('a credential revoked mid-run: the next call is refused and the run fails clearly', async () => {
    const executor = new TokenScaleExecutor();
    executor.midRun = async (context) => {
      await provider.revoke(context.credentials as Credential<{ token: string }>);
    };
    const { token: ticket } = await ticketFor('scale-deployment', { ...SCALE, replicas: 5 });
    const result = await runner().execute(ticket, { params: { ...SCALE, replicas: 5 }, executor });
    expect(executor.statuses.read).toBe(200);
    expect([401, 403]).toContain(executor.statuses.scale);
    expect(result.status).toBe('failed');
    expect(result.error?.code).toBe('EXECUTION_FAILED');
    expect(result.error?.message).toMatch(/scaling failed: HTTP 40[13] \(the credential was refused\)/);
    // The after-state cannot be read with a revoked handle (its material is gone); the run says so.
    expect(result.steps.find((entry) => entry.name === 'after_state')).toMatchObject({
      status: 'failed',
      detail: expect.stringMatching(/was revoked/),
    });
    // The runner's own revoke still runs (idempotent) and nothing is left; nothing changed.
    expect(result.steps.find((entry) => entry.name === 'revoke')).toMatchObject({ status: 'ok' });
    expect(await leftovers()).toEqual([]);
    expect(await replicas('web')).toBe(3);
  });

  it('refuses a credentials block of another type than the provider serves, before any precheck', async () => {
    const edited = registry.list().map((definition) =>
      definition.name === 'scale-deployment'
        ? ({
            ...definition,
            credentials: { type: 'aws', fields: { actions: ['ecs:UpdateService'] }, ttl: 900 },
          } as ActionDefinition)
        : definition,
    );
    const executor = new TokenScaleExecutor();
    const { token: ticket } = await ticketFor('scale-deployment', SCALE);
    const result = await runner(credentialResolver(provider), ActionRegistry.fromDefinitions(edited)).execute(
      ticket,
      { params: SCALE, executor },
    );
    expect(result).toMatchObject({ status: 'refused', error: { code: 'CREDENTIALS' } });
    expect(result.error?.message).toMatch(
      /needs a "aws" credential, but the runner's credential provider serves "kubernetes"; configure a aws provider/,
    );
    expect(executor.tokens).toEqual([]);
    expect(await leftovers()).toEqual([]);
  });

  it('refuses params the credential scope cannot use, naming the field (no object created)', async () => {
    // An action file whose param accepts any string: the credential scope still needs a DNS-1123 name.
    const edited = registry.list().map((definition) =>
      definition.name === 'scale-deployment'
        ? ({
            ...definition,
            parameters: definition.parameters.map((parameter) =>
              parameter.name === 'deployment' ? { ...parameter, constraints: {} } : parameter,
            ),
          } as ActionDefinition)
        : definition,
    );
    const params = { namespace: 'shop', deployment: 'api/../web', replicas: 2 };
    const { token: ticket } = await ticketFor('scale-deployment', params);
    const executor = new TokenScaleExecutor();
    const result = await runner(credentialResolver(provider), ActionRegistry.fromDefinitions(edited)).execute(
      ticket,
      { params, executor },
    );
    expect(result).toMatchObject({ status: 'refused', error: { code: 'CREDENTIALS' } });
    expect(result.error?.message).toMatch(/credentials\.fields\.resource_names\[0\]: param "deployment"/);
    expect(result.error?.message).not.toContain('api/../web');
    expect(executor.tokens).toEqual([]);
    expect(await leftovers()).toEqual([]);
  });
});

describe('credentialResolver without a cluster', () => {
  const fake = (type: string, issued: string[]): CredentialProvider<string> => ({
    type,
    issue: async (request) => {
      issued.push(
        `${request.requestId} ${request.action} ${JSON.stringify(request.scope.fields.resource_names)}`,
      );
      return new Credential({
        kind: 'fake',
        id: 'fake-1',
        issuedAt: 0,
        expiresAt: 8.64e15,
        material: 's3cr3t',
      });
    },
    revoke: async (credential) => credential.invalidate(),
  });

  it('returns undefined for an action without a credentials block', async () => {
    const issued: string[] = [];
    const resolve = credentialResolver(fake('kubernetes', issued));
    const action = { ...registry.get('scale-deployment')!, credentials: null } as ActionDefinition;
    const ticket = { auditId: 'evt_1' } as ExecutionRequest['ticket'];
    expect(await resolve({ action, target: 't', params: SCALE, ticket })).toBeUndefined();
    expect(issued).toEqual([]);
  });

  it('serves other block types only when told to (a development EnvVault for kubernetes blocks)', async () => {
    const issued: string[] = [];
    const request = {
      action: registry.get('scale-deployment')!,
      target: '',
      params: SCALE,
      ticket: { auditId: 'evt_2' } as ExecutionRequest['ticket'],
    };
    await expect(credentialResolver(fake('env', issued))(request)).rejects.toThrow(/serves "env"/);
    const resolved = await credentialResolver(fake('env', issued), { types: ['kubernetes'] })(request);
    expect(resolved?.id).toMatch(/^fake-1 \(fake, expires /);
    expect(issued).toEqual(['evt_2 scale-deployment@1.0.0 ["web"]']);
    expect(JSON.stringify(resolved)).not.toContain('s3cr3t');
    await resolved!.revoke();
    expect(() => (resolved!.value as Credential).material).toThrow(/was revoked/);
  });

  it('refuses a provider that is not one, and an empty types list', () => {
    expect(() => credentialResolver({} as CredentialProvider)).toThrow(/needs a credential provider/);
    expect(() => credentialResolver(fake('x', []), { types: [] })).toThrow(/non-empty list/);
  });
});
