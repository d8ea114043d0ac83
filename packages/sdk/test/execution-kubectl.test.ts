// safe.execute with the kubectl and the kubernetes executors on a real kube-apiserver + etcd (started privately for this
// file; `scripts/services.sh install k8s` builds the binaries once per machine; never skipped):
// check → execute → the Deployment really changed → the state was captured → generateRollback →
// checkRollback ALLOW → executeRollback → the replicas are restored. Plus the refusals (replayed ticket,
// other params, denied decision) with no side effect.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type K8sCluster, k8sBinDir, startK8sCluster } from '../../executor-k8s/test/k8s-cluster.js';
import type { AgentSafe } from '../src/index.js';
import { CALLER, openProject, scaleParams, writeExecutionProject } from './execution-project.js';

const NS = 'shop';
let cluster: K8sCluster;
let safe: AgentSafe;
let dir: string;
const originalPath = process.env.PATH;

async function kubectl(args: readonly string[], input?: string): Promise<string> {
  const result = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

async function replicas(): Promise<number> {
  return (
    JSON.parse(await kubectl(['get', 'deployment', 'web', '-n', NS, '-o', 'json'])) as {
      spec: { replicas: number };
    }
  ).spec.replicas;
}

function auditEvents(): Record<string, unknown>[] {
  return readFileSync(join(dir, 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

beforeAll(async () => {
  cluster = await startK8sCluster();
  // The executor runs `kubectl` from PATH: the cached build that matches the server.
  process.env.PATH = `${k8sBinDir()}:${originalPath}`;
  await kubectl(['create', 'namespace', NS]);
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: NS },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] },
        },
      },
    }),
  );
  dir = writeExecutionProject({
    namespace: NS,
    // The kubectl executor implements deployment-exists only (docs/enforcement.md, Executors); the
    // catalogue's HPA and quota prechecks need the Kubernetes executor, so this copy keeps the first.
    edit: (root) => {
      const file = join(root, 'actions', 'scale-deployment.yaml');
      const text = readFileSync(file, 'utf8');
      const kept = text.replace(
        /\n {2}- name: hpa-not-managing\n[^\n]*\n {2}- name: quota-allows\n[^\n]*\n/,
        '\n',
      );
      expect(kept).not.toBe(text);
      writeFileSync(file, kept);
    },
  });
  safe = openProject(dir);
}, 150_000);

afterAll(async () => {
  process.env.PATH = originalPath;
  await safe?.close();
  await cluster?.stop();
}, 60_000);

function kubectlOptions() {
  return { executor: 'kubectl' as const, kubeconfig: cluster.kubeconfigPath, timeoutMs: 60_000 };
}

describe('safe.execute with kubectl on a real API server', () => {
  it('scale-deployment: executes, captures, and the rollback restores the replicas', async () => {
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(4, NS),
    });
    expect(decision.result).toBe('ALLOW');
    const result = await safe.execute(decision, kubectlOptions());
    expect({ status: result.status, error: result.error }).toEqual({ status: 'succeeded', error: undefined });
    expect(result.executor).toBe('kubectl');
    expect(await replicas()).toBe(4);
    expect(result.beforeState).toMatchObject({ replicas: 2 });
    expect(result.afterState).toMatchObject({ replicas: 4 });
    expect(result.diff?.replicas).toEqual({ before: 2, after: 4 });

    const capture = await safe.getStateCapture(decision.auditId);
    expect(capture).toMatchObject({
      decisionAuditId: decision.auditId,
      action: 'scale-deployment',
      beforeState: { replicas: 2 },
      afterState: { replicas: 4 },
      recordedBy: 'runner (kubectl)',
    });

    const plan = await safe.generateRollback(decision.auditId);
    expect(plan).toEqual({
      ok: true,
      plan: {
        action: 'scale-deployment',
        target: 'dev/web',
        params: scaleParams(2, NS),
        correlationId: decision.auditId,
      },
    });
    const checked = await safe.checkRollback(decision.auditId);
    expect(checked.decision).toMatchObject({ result: 'ALLOW', correlationId: decision.auditId });

    const rolledBack = await safe.executeRollback(decision.auditId, kubectlOptions());
    expect(rolledBack.decision).toMatchObject({ result: 'ALLOW', correlationId: decision.auditId });
    expect(rolledBack.result?.status).toBe('succeeded');
    expect(await replicas()).toBe(2);
    expect(rolledBack.result?.diff?.replicas).toEqual({ before: 4, after: 2 });

    const events = auditEvents();
    const executions = events.filter((event) => event.event_type === 'execution');
    expect(executions.map((event) => [event.decision_audit_id, event.status, event.executor])).toEqual([
      [decision.auditId, 'succeeded', 'kubectl'],
      [rolledBack.decision.auditId, 'succeeded', 'kubectl'],
    ]);

    // The original ticket is spent: replaying it changes nothing.
    const replay = await safe.execute(decision, kubectlOptions());
    expect(replay.status).toBe('refused');
    expect(replay.error?.code).toBe('TICKET_REPLAYED');
    expect(await replicas()).toBe(2);
  }, 120_000);

  it('the kubernetes executor (loaded from @agent-safe/executor-k8s on demand) scales and rolls back too', async () => {
    const options = {
      executor: 'kubernetes' as const,
      kubeconfig: cluster.kubeconfigPath,
      timeoutMs: 60_000,
    };
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(6, NS),
    });
    const result = await safe.execute(decision, options);
    expect({ status: result.status, error: result.error }).toEqual({ status: 'succeeded', error: undefined });
    expect(result.executor).toBe('kubernetes');
    expect(await replicas()).toBe(6);
    expect(result.diff?.replicas).toEqual({ before: 2, after: 6 });
    const rolledBack = await safe.executeRollback(decision.auditId, options);
    expect(rolledBack.result?.status).toBe('succeeded');
    expect(await replicas()).toBe(2);
  }, 60_000);

  it('other params than the ticket, a denied decision and a missing Deployment change nothing', async () => {
    const decision = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(3, NS),
    });
    const other = await safe.execute(decision.ticket!.token, {
      ...kubectlOptions(),
      params: scaleParams(9, NS),
    });
    expect(other.status).toBe('refused');
    expect(other.error?.code).toBe('TICKET_PARAMS_MISMATCH');
    expect(await replicas()).toBe(2);

    const denied = await safe.check({
      action: 'restart-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: { namespace: NS, deployment: 'web' },
    });
    expect(denied.result).toBe('DENY');
    const refused = await safe.execute(denied, kubectlOptions());
    expect(refused.status).toBe('refused');
    expect(refused.error?.code).toBe('TICKET_MISSING');
    const generation = JSON.parse(await kubectl(['get', 'deployment', 'web', '-n', NS, '-o', 'json'])) as {
      spec: { template: { metadata: { annotations?: Record<string, string> } } };
    };
    expect(
      generation.spec.template.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'],
    ).toBeUndefined();

    // A ticket for a Deployment that is not there: the precheck stops the run before anything acts.
    await kubectl(['delete', 'deployment', 'web', '-n', NS]);
    const gone = await safe.check({
      action: 'scale-deployment',
      target: 'dev/web',
      caller: CALLER,
      params: scaleParams(5, NS),
    });
    const stopped = await safe.execute(gone, kubectlOptions());
    expect(stopped.status).toBe('refused');
    expect(stopped.error?.code).toBe('PRECHECK_FAILED');
    expect(stopped.error?.message).toMatch(/deployment-exists failed: the object cannot be read/);
    expect(stopped.steps.map((step) => step.name)).not.toContain('execute');
  }, 60_000);
});
