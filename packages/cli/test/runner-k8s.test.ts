// The enforcement commands against a real kube-apiserver + etcd (started privately for this file;
// `scripts/services.sh install k8s` builds the binaries once per machine; never skipped), on a project
// `agent-safe init` scaffolds, whose dev/test-app target is the Deployment dev/app created here:
//  - runner execute --executor kubernetes scales it for real; audit show-state, rollback show and
//    rollback check read the captured replicas; the rollback's own ticket restores them;
//  - runner execute --executor kubectl: the stock scale-deployment is refused by a precheck kubectl
//    cannot run (nothing changes); with that action's kubectl-checkable prechecks only, it scales;
//  - credential test-vault --vault kubernetes: the admin passes, a token without rights fails, naming
//    the rights it lacks.
import { spawn } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type K8sCluster, k8sBinDir, startK8sCluster } from '../../executor-k8s/test/k8s-cluster.js';
import { BIN, cli } from './run-cli.js';

let cluster: K8sCluster;
let project: string;
/** A copy of the project whose scale-deployment keeps only the precheck kubectl implements. */
let kubectlProject: string;
let env: Record<string, string>;

// biome-ignore lint/suspicious/noExplicitAny: the envelope's payloads are asserted field by field
type Payload = any;

function json(stdout: string): { ok: boolean; exitCode: number; data: Payload; errors: Payload[] } {
  return JSON.parse(stdout);
}

async function kubectl(args: readonly string[], input?: string): Promise<string> {
  const result = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

async function replicas(): Promise<number> {
  const deployment = JSON.parse(await kubectl(['get', 'deployment', 'app', '-n', 'dev', '-o', 'json']));
  return deployment.spec.replicas as number;
}

function allowScale(dir: string, replicaCount: number): { ticket: string; auditId: string; params: string } {
  const params = JSON.stringify({ namespace: 'dev', deployment: 'app', replicas: replicaCount });
  const check = cli(
    [
      'check',
      'scale-deployment',
      '--target',
      'dev/test-app',
      '--caller',
      'deploy-agent',
      '--params',
      params,
      '--json-output',
    ],
    dir,
  );
  expect(check.code).toBe(0);
  const decision = json(check.stdout).data;
  return { ticket: decision.ticket.token, auditId: decision.auditId, params };
}

beforeAll(async () => {
  cluster = await startK8sCluster();
  await kubectl(['create', 'namespace', 'dev']);
  await kubectl(['create', 'namespace', 'agent-safe']);
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'app', namespace: 'dev' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'test-app' } },
        template: {
          metadata: { labels: { app: 'test-app' } },
          spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] },
        },
      },
    }),
  );
  const root = mkdtempSync(join(tmpdir(), 'agent-safe-runner-k8s-'));
  project = join(root, 'p');
  expect(cli(['init', project], root).code).toBe(0);
  expect(cli(['identity', 'keygen', '--out', 'keys'], project).code).toBe(0);
  appendFileSync(
    join(project, 'agent-safe.yaml'),
    'signing_key: file:keys/signing-key.secret\nallow_plain_callers: true\n',
  );
  kubectlProject = join(root, 'kubectl');
  cpSync(project, kubectlProject, { recursive: true });
  const action = join(kubectlProject, 'actions', 'scale-deployment.yaml');
  const text = readFileSync(action, 'utf8');
  const kept = text.replace(
    /\n {2}- name: hpa-not-managing\n[^\n]*\n {2}- name: quota-allows\n[^\n]*\n/,
    '\n',
  );
  expect(kept).not.toBe(text);
  writeFileSync(action, kept);
  // kubectl from the cached build that matches the server (the machine's own may be another version).
  env = { PATH: `${k8sBinDir()}:${process.env.PATH ?? ''}` };
}, 150_000);

afterAll(async () => {
  await cluster?.stop();
}, 60_000);

describe('runner execute --executor kubernetes, then the rollback', () => {
  it('scales dev/app, shows the captured state, and rolls back through its own decision and ticket', async () => {
    expect(await replicas()).toBe(2);
    const { ticket, auditId, params } = allowScale(project, 4);
    const dry = cli(['runner', 'dry-run', ticket, '--params', params], project, env);
    expect(dry.code).toBe(0);
    expect(await replicas()).toBe(2);

    const run = cli(
      [
        'runner',
        'execute',
        ticket,
        '--params',
        params,
        '--executor',
        'k8s',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--timeout',
        '60',
      ],
      project,
      env,
    );
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^succeeded {2}scale-deployment on dev\/test-app \(executor kubernetes/);
    expect(run.stdout).toMatch(/✓ precheck:deployment-exists +ok/);
    expect(run.stdout).toContain('replicas: 2 → 4');
    expect(await replicas()).toBe(4);

    const state = cli(['audit', 'show-state', auditId], project);
    expect(state.code).toBe(0);
    expect(state.stdout).toContain('recorded by runner (kubernetes)');
    expect(state.stdout).toContain('replicas: 2 → 4  (changed)');

    const show = cli(['rollback', 'show', auditId, '--json-output'], project);
    expect(show.code).toBe(0);
    expect(json(show.stdout).data.plan).toEqual({
      action: 'scale-deployment',
      target: 'dev/test-app',
      params: { namespace: 'dev', deployment: 'app', replicas: 2 },
      correlationId: auditId,
    });

    const check = cli(['rollback', 'check', auditId, '--json-output'], project);
    expect(check.code).toBe(0);
    const rollback = json(check.stdout).data;
    expect(rollback.decision).toMatchObject({ result: 'ALLOW', correlationId: auditId });
    const undo = cli(
      [
        'runner',
        'execute',
        '-',
        '--params',
        JSON.stringify(rollback.plan.params),
        '--executor',
        'kubernetes',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--json-output',
      ],
      project,
      env,
      rollback.decision.ticket.token,
    );
    expect(undo.code).toBe(0);
    expect(json(undo.stdout).data).toMatchObject({
      status: 'succeeded',
      diff: { replicas: { before: 4, after: 2 } },
    });
    expect(await replicas()).toBe(2);
  });

  it('a ticket for another deployment size cannot be replayed or bent to other params', async () => {
    const { ticket, params } = allowScale(project, 3);
    const bent = cli(
      [
        'runner',
        'execute',
        ticket,
        '--params',
        '{"namespace":"dev","deployment":"app","replicas":50}',
        '--executor',
        'k8s',
        '--kubeconfig',
        cluster.kubeconfigPath,
      ],
      project,
      env,
    );
    expect(bent.code).toBe(1);
    expect(bent.stdout).toContain('TICKET_PARAMS_MISMATCH');
    expect(await replicas()).toBe(2);
    const args = [
      'runner',
      'execute',
      ticket,
      '--params',
      params,
      '--executor',
      'k8s',
      '--kubeconfig',
      cluster.kubeconfigPath,
    ];
    expect(cli(args, project, env).code).toBe(0);
    expect(await replicas()).toBe(3);
    await kubectl(['scale', 'deployment/app', '-n', 'dev', '--replicas=2']);
    const replay = cli(args, project, env);
    expect(replay.code).toBe(1);
    expect(replay.stdout).toContain('TICKET_REPLAYED');
    expect(await replicas()).toBe(2);
  });
});

describe('runner execute --credentials kubernetes', () => {
  // The action and its state reads use the scoped token (exactly the action's credentials block); the
  // catalogue's prechecks (deployment-exists, hpa-not-managing, quota-allows) read with the runner's identity.
  it('acts with a per-run scoped token that is revoked when the run ends', async () => {
    const { ticket, params } = allowScale(project, 3);
    const run = cli(
      [
        'runner',
        'execute',
        ticket,
        '--params',
        params,
        '--executor',
        'kubernetes',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--credentials',
        'kubernetes',
        '--json-output',
      ],
      project,
      env,
    );
    expect(run.stderr).toBe('');
    const result = json(run.stdout).data;
    expect({ code: run.code, status: result.status, error: result.error }).toEqual({
      code: 0,
      status: 'succeeded',
      error: undefined,
    });
    const credentialStep = result.steps.find((step: { name: string }) => step.name === 'credentials');
    expect(credentialStep).toMatchObject({ status: 'ok' });
    expect(credentialStep.detail).toMatch(/^agent-safe\/agent-safe-/);
    expect(result.steps.find((step: { name: string }) => step.name === 'revoke')).toMatchObject({
      status: 'ok',
    });
    expect(await replicas()).toBe(3);
    // Revoked: the run's ServiceAccount and its binding are gone.
    const accounts = JSON.parse(await kubectl(['get', 'serviceaccounts', '-n', 'agent-safe', '-o', 'json']));
    expect(
      accounts.items.map((item: { metadata: { name: string } }) => item.metadata.name),
    ).not.toContainEqual(expect.stringMatching(/^agent-safe-/));
    const bindings = JSON.parse(await kubectl(['get', 'rolebindings', '-n', 'dev', '-o', 'json']));
    expect(bindings.items).toEqual([]);
    // The minted token (a JWT) is never printed, nor written to the audit log.
    const jwt = /eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]{10,}/;
    expect(run.stdout).not.toMatch(jwt);
    const runEvents = readFileSync(join(project, 'audit.jsonl'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"event_type":"execution'));
    expect(runEvents.length).toBeGreaterThan(0);
    for (const line of runEvents) expect(line).not.toMatch(jwt);
    await kubectl(['scale', 'deployment/app', '-n', 'dev', '--replicas=2']);
  });

  it('needs the kubernetes executor', () => {
    const result = cli(
      ['runner', 'execute', 'a.b.c', '--credentials', 'kubernetes', '--executor', 'kubectl'],
      project,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--credentials kubernetes needs --executor kubernetes');
  });
});

describe('runner execute: a run that acted and did not finish', () => {
  it('exits 4 when the run times out (rollout-status waits for pods that never start here)', async () => {
    const params = JSON.stringify({ namespace: 'dev', deployment: 'app', timeout_seconds: 120 });
    const check = cli(
      [
        'check',
        'rollout-status',
        '--target',
        'dev/test-app',
        '--caller',
        'deploy-agent',
        '--params',
        params,
        '--json-output',
      ],
      project,
    );
    expect(check.code).toBe(0);
    const ticket = json(check.stdout).data.ticket.token;
    await kubectl(['scale', 'deployment/app', '-n', 'dev', '--replicas=1']);
    const run = cli(
      [
        'runner',
        'execute',
        ticket,
        '--params',
        params,
        '--executor',
        'kubernetes',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--timeout',
        '3',
        '--json-output',
      ],
      project,
      env,
    );
    expect(run.code).toBe(4);
    const envelope = json(run.stdout);
    expect(envelope).toMatchObject({ ok: false, exitCode: 4, data: { status: 'timed_out' } });
    expect(envelope.errors[0]).toMatchObject({ code: 'EXECUTION_FAILED' });
    expect(envelope.errors[0].message).toMatch(/^TIMEOUT: /);
    await kubectl(['scale', 'deployment/app', '-n', 'dev', '--replicas=2']);
  });

  it('Ctrl-C cancels the run, which is recorded as cancelled (exit 4)', async () => {
    const params = JSON.stringify({ namespace: 'dev', deployment: 'app', timeout_seconds: 120 });
    const check = cli(
      [
        'check',
        'rollout-status',
        '--target',
        'dev/test-app',
        '--caller',
        'deploy-agent',
        '--params',
        params,
        '--json-output',
      ],
      project,
    );
    const decision = json(check.stdout).data;
    await kubectl(['scale', 'deployment/app', '-n', 'dev', '--replicas=1']);
    const child = spawn(
      process.execPath,
      [
        BIN,
        'runner',
        'execute',
        decision.ticket.token,
        '--params',
        params,
        '--executor',
        'kubernetes',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--json-output',
      ],
      { cwd: project, env: { ...process.env, ...env } },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    // Interrupt once the run is under way (its execution_started event is in the log).
    const log = join(project, 'audit.jsonl');
    const started = Date.now();
    while (
      !readFileSync(log, 'utf8').includes(`"decision_audit_id":"${decision.auditId}"`) &&
      Date.now() - started < 20_000
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(4);
    expect(json(stdout)).toMatchObject({ exitCode: 4, data: { status: 'cancelled' } });
    const recorded = readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line))
      .find((event) => event.event_type === 'execution' && event.decision_audit_id === decision.auditId);
    expect(recorded).toMatchObject({ status: 'cancelled' });
    await kubectl(['scale', 'deployment/app', '-n', 'dev', '--replicas=2']);
  });
});

describe('runner execute --executor kubectl', () => {
  it('is refused by a precheck kubectl cannot run, changing nothing', async () => {
    const { ticket, params } = allowScale(project, 5);
    const run = cli(
      [
        'runner',
        'execute',
        ticket,
        '--params',
        params,
        '--executor',
        'kubectl',
        '--kubeconfig',
        cluster.kubeconfigPath,
      ],
      project,
      env,
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^refused/);
    expect(run.stdout).toContain('PRECHECK_FAILED');
    expect(run.stdout).toMatch(/✗ precheck:hpa-not-managing +failed/);
    expect(await replicas()).toBe(2);
  });

  it('scales with kubectl when the action has only prechecks kubectl implements', async () => {
    const { ticket, auditId, params } = allowScale(kubectlProject, 3);
    const run = cli(
      [
        'runner',
        'execute',
        ticket,
        '--params',
        params,
        '--executor',
        'subprocess',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--context',
        'agent-safe-test',
        '--json-output',
      ],
      kubectlProject,
      env,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(json(run.stdout).data).toMatchObject({
      status: 'succeeded',
      executor: 'kubectl',
      beforeState: { replicas: 2 },
      afterState: { replicas: 3 },
    });
    expect(await replicas()).toBe(3);
    const rollback = cli(['rollback', 'show', auditId], kubectlProject);
    expect(rollback.stdout).toContain('params        {"namespace":"dev","deployment":"app","replicas":2}');
    await kubectl(['scale', 'deployment/app', '-n', 'dev', '--replicas=2']);
  });

  it('reports an unreachable context as a failure of the run, not a stack trace', async () => {
    const { ticket, params } = allowScale(kubectlProject, 3);
    const run = cli(
      [
        'runner',
        'execute',
        ticket,
        '--params',
        params,
        '--executor',
        'kubectl',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--context',
        'no-such-context',
      ],
      kubectlProject,
      env,
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^refused/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(await replicas()).toBe(2);
  });
});

describe('credential test-vault --vault kubernetes', () => {
  it('passes for the admin identity', () => {
    const result = cli(
      [
        'credential',
        'test-vault',
        '--vault',
        'kubernetes',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--json-output',
      ],
      project,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const data = json(result.stdout).data;
    expect(data).toMatchObject({ vault: 'kubernetes', ok: true });
    expect(data.checks.every((check: { ok: boolean }) => check.ok)).toBe(true);
    // The reads the Kubernetes executor's prechecks make as the runner are checked too.
    expect(data.checks.map((check: { name: string }) => check.name)).toEqual(
      expect.arrayContaining(['list pods in every namespace', 'get poddisruptionbudgets in every namespace']),
    );
    const text = cli(['credential', 'test-vault', '--kubeconfig', cluster.kubeconfigPath], project);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('✓ namespace agent-safe exists');
    expect(text.stdout).toContain('✓ create serviceaccounts/token in agent-safe: allowed');
  });

  it('fails for a token without rights, naming what is missing; a missing namespace fails too', async () => {
    await kubectl(['create', 'serviceaccount', 'nobody', '-n', 'default']);
    const token = (await kubectl(['create', 'token', 'nobody', '-n', 'default'])).trim();
    const kubeconfig = join(project, 'nobody.kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: test\n  cluster: {server: "${cluster.url}", certificate-authority: "${cluster.caPath}"}`,
        'users:',
        `- name: nobody\n  user: {token: "${token}"}`,
        'contexts:',
        '- name: nobody\n  context: {cluster: test, user: nobody}',
        'current-context: nobody',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const result = cli(
      ['credential', 'test-vault', '--vault', 'kubernetes', '--kubeconfig', kubeconfig],
      project,
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/✗ create serviceaccounts in agent-safe: not allowed/);
    expect(result.stdout).toMatch(/✗ create roles in every namespace: not allowed/);
    expect(result.stdout).toMatch(
      /✗ list nodes in every namespace: not allowed: the Kubernetes executor's prechecks/,
    );
    expect(result.stdout).toMatch(/required check\(s\) failed/);
    expect(result.stdout + result.stderr).not.toContain(token);
    const envelope = json(
      cli(['credential', 'test-vault', '--kubeconfig', kubeconfig, '--json-output'], project).stdout,
    );
    expect(envelope.ok).toBe(false);
    expect(envelope.errors.length).toBeGreaterThan(3);
    expect(JSON.stringify(envelope)).not.toContain(token);

    const elsewhere = cli(
      ['credential', 'test-vault', '--kubeconfig', cluster.kubeconfigPath, '--namespace', 'runner-missing'],
      project,
    );
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stdout).toContain('✗ namespace runner-missing exists: not found');
  });
});
