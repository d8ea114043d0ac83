// `agent-safe runner execute | dry-run`, `audit show-state | state-coverage`, `rollback show | check` and
// `credential resolve` on a project `agent-safe init` scaffolds, with the dry-run executor (no cluster).
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { cli } from './run-cli.js';

const SCALE = { namespace: 'dev', deployment: 'app', replicas: 3 };
const SCALE_JSON = JSON.stringify(SCALE);

let project: string;

beforeAll(() => {
  const root = mkdtempSync(join(tmpdir(), 'agent-safe-runner-cli-'));
  project = join(root, 'p');
  expect(cli(['init', project], root).code).toBe(0);
  expect(cli(['identity', 'keygen', '--out', 'keys'], project).code).toBe(0);
  // Tickets need a signing key; plain agent ids keep the requests short; write durability keeps it fast.
  const config = join(project, 'agent-safe.yaml');
  writeFileSync(
    config,
    readFileSync(config, 'utf8').replace('audit_durability: fsync', 'audit_durability: write'),
  );
  appendFileSync(config, 'signing_key: file:keys/signing-key.secret\nallow_plain_callers: true\n');
});

// biome-ignore lint/suspicious/noExplicitAny: the envelope's payloads are asserted field by field
type Payload = any;

function json(stdout: string) {
  return JSON.parse(stdout) as {
    command: string;
    ok: boolean;
    exitCode: number;
    data: Payload;
    errors: Payload[];
  };
}

/** `check scale-deployment` on dev/test-app: the ALLOW decision's ticket and audit id. */
function allowScale(params: string = SCALE_JSON): { ticket: string; auditId: string } {
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
    project,
  );
  expect(check.code).toBe(0);
  const decision = json(check.stdout).data;
  expect(decision.result).toBe('ALLOW');
  expect(typeof decision.ticket.token).toBe('string');
  return { ticket: decision.ticket.token, auditId: decision.auditId };
}

function auditEvents(): Record<string, unknown>[] {
  return readFileSync(join(project, 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

describe('runner dry-run', () => {
  it('verifies the ticket, shows the API calls, and leaves the ticket unused', () => {
    const { ticket } = allowScale();
    const before = auditEvents().length;
    const dry = cli(['runner', 'dry-run', ticket, '--params', SCALE_JSON], project);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('✓ valid scale-deployment on dev/test-app');
    expect(dry.stdout).toContain('nothing was executed and the ticket was NOT used');
    expect(dry.stdout).toContain(
      'PATCH /apis/apps/v1/namespaces/dev/deployments/app/scale [application/merge-patch+json] {"spec":{"replicas":3}}',
    );
    expect(dry.stdout).toContain('kubectl scale deployment/app --replicas=3 -n dev');
    expect(dry.stdout).toContain('deployment-exists, hpa-not-managing, quota-allows');
    // Twice, still valid: nothing consumed, nothing recorded.
    expect(cli(['runner', 'dry-run', ticket, '--params', SCALE_JSON], project).code).toBe(0);
    expect(auditEvents().length).toBe(before);
    // …so the ticket still runs once.
    const run = cli(['runner', 'execute', ticket, '--params', SCALE_JSON], project);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^succeeded {2}scale-deployment on dev\/test-app/);
  });

  it('prints one JSON envelope with the calls, prechecks and claims (never the token)', () => {
    const { ticket, auditId } = allowScale();
    const dry = cli(['runner', 'dry-run', '-', '--params', SCALE_JSON, '--json-output'], project, {}, ticket);
    expect(dry.code).toBe(0);
    const envelope = json(dry.stdout);
    expect(envelope).toMatchObject({ command: 'runner dry-run', ok: true, exitCode: 0, errors: [] });
    expect(envelope.data).toMatchObject({
      executed: false,
      consumed: false,
      action: 'scale-deployment',
      target: 'dev/test-app',
      params: SCALE,
      calls: [
        {
          method: 'PATCH',
          path: '/apis/apps/v1/namespaces/dev/deployments/app/scale',
          body: { spec: { replicas: 3 } },
        },
      ],
      kubectl: ['scale', 'deployment/app', '--replicas=3', '-n', 'dev'],
      stateFields: ['replicas', 'ready_replicas', 'available_replicas'],
      rollbackAction: 'scale-deployment',
      ticket: { action: 'scale-deployment', auditId, caller: 'deploy-agent' },
    });
    expect(envelope.data.prechecks.map((check: { name: string }) => check.name)).toEqual([
      'deployment-exists',
      'hpa-not-managing',
      'quota-allows',
    ]);
    expect(dry.stdout).not.toContain(ticket);
  });

  it('refuses params other than the ticket was issued for, naming the fix', () => {
    const { ticket } = allowScale();
    const other = cli(
      ['runner', 'dry-run', ticket, '--params', '{"namespace":"dev","deployment":"app","replicas":4}'],
      project,
    );
    expect(other.code).toBe(1);
    expect(other.stdout).toContain('(PARAMS_MISMATCH)');
    expect(other.stdout).toContain('pass the params the ticket was issued for');
    const none = cli(['runner', 'dry-run', ticket, '--json-output'], project);
    expect(none.code).toBe(1);
    const envelope = json(none.stdout);
    expect(envelope.ok).toBe(false);
    expect(envelope.errors[0].code).toBe('PARAMS_INVALID');
    expect(envelope.errors[0].message).toContain('with --params JSON or --params-file FILE');
  });
});

describe('runner execute', () => {
  it('runs once with the dry-run executor, audits the run, and refuses a replay', () => {
    const { ticket, auditId } = allowScale();
    const run = cli(['runner', 'execute', ticket, '--params', SCALE_JSON, '--json-output'], project);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = json(run.stdout);
    expect(result).toMatchObject({ command: 'runner execute', ok: true, exitCode: 0, errors: [] });
    expect(result.data).toMatchObject({
      status: 'succeeded',
      action: 'scale-deployment',
      target: 'dev/test-app',
      executor: 'dry-run',
      auditIds: { decision: auditId },
    });
    expect(result.data.steps.map((step: { name: string }) => step.name)).toEqual([
      'ticket',
      'credentials',
      'precheck:deployment-exists',
      'precheck:hpa-not-managing',
      'precheck:quota-allows',
      'before_state',
      'execute',
      'after_state',
    ]);
    const types = auditEvents()
      .filter((event) => event.decision_audit_id === auditId)
      .map((event) => event.event_type);
    expect(types).toContain('execution_started');
    expect(types).toContain('execution');
    expect(types).toContain('state_capture');

    // A second process: the nonce was kept in the CLI's file store, so the replay is refused.
    const replay = cli(['runner', 'execute', ticket, '--params', SCALE_JSON], project);
    expect(replay.code).toBe(1);
    expect(replay.stdout).toMatch(/^refused/);
    expect(replay.stdout).toContain('TICKET_REPLAYED');
    expect(replay.stdout).toContain('nothing was executed');
    const replayJson = json(
      cli(['runner', 'execute', ticket, '--params', SCALE_JSON, '--json-output'], project).stdout,
    );
    expect(replayJson).toMatchObject({ ok: false, exitCode: 1, data: { status: 'refused' } });
    expect(replayJson.errors[0]).toMatchObject({ code: 'TICKET_INVALID' });
    expect(replayJson.errors[0].message).toMatch(/^TICKET_REPLAYED: /);
  });

  it('prints steps, calls and audit ids for people', () => {
    const { ticket, auditId } = allowScale();
    const run = cli(['runner', 'execute', ticket, '--params', SCALE_JSON, '--executor', 'dry-run'], project);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/✓ ticket +ok +\d+ ms/);
    expect(run.stdout).toMatch(/✓ precheck:deployment-exists +ok +\d+ ms +dry run/);
    expect(run.stdout).toContain('calls (dry run: none was made, nothing changed)');
    expect(run.stdout).toContain('PATCH /apis/apps/v1/namespaces/dev/deployments/app/scale');
    expect(run.stdout).toContain(`decision      ${auditId}`);
    expect(run.stdout).toMatch(/state capture evt-/);
  });

  it('refuses other params with "pass the params the ticket was issued for", and the ticket stays usable', () => {
    const { ticket } = allowScale();
    const other = cli(
      ['runner', 'execute', ticket, '--params', '{"namespace":"dev","deployment":"app","replicas":9}'],
      project,
    );
    expect(other.code).toBe(1);
    expect(other.stdout).toContain('TICKET_PARAMS_MISMATCH');
    expect(other.stdout).toContain('pass the params the ticket was issued for');
    const none = cli(['runner', 'execute', ticket], project);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('PARAMS_INVALID');
    expect(none.stdout).toContain('with --params JSON or --params-file FILE');
    // Refused before the nonce was consumed: the right params still run.
    expect(cli(['runner', 'execute', ticket, '--params', SCALE_JSON], project).code).toBe(0);
  });

  it('reads the params from a file or standard input', () => {
    const { ticket } = allowScale();
    writeFileSync(join(project, 'params.json'), SCALE_JSON);
    expect(cli(['runner', 'dry-run', ticket, '--params-file', 'params.json'], project).code).toBe(0);
    expect(cli(['runner', 'execute', ticket, '--params-file', '-'], project, {}, SCALE_JSON).code).toBe(0);
  });

  it.each([
    [['runner', 'execute', 'not-a-ticket'], 'not an execution ticket'],
    [['runner', 'execute', 'a.b.c', '--params', '{"x"'], '--params is not valid JSON'],
    [['runner', 'execute', 'a.b.c', '--params', '[1]'], '--params must be a JSON object'],
    [
      ['runner', 'execute', 'a.b.c', '--params', '{}', '--params-file', 'x'],
      'either --params or --params-file',
    ],
    [['runner', 'execute', '-', '--params-file', '-'], 'cannot both be read from standard input'],
    [['runner', 'execute', 'a.b.c', '--executor', 'ssh'], '--executor must be one of dry-run, kubectl'],
    [['runner', 'execute', 'a.b.c', '--timeout', '0'], '--timeout must be a whole number of seconds'],
    [['runner', 'execute', 'a.b.c', '--timeout', '1e3'], '--timeout must be a whole number of seconds'],
    [['runner', 'execute', 'a.b.c', '--kubeconfig', 'k'], 'apply to --executor kubectl or kubernetes'],
    [
      ['runner', 'execute', 'a.b.c', '--params-file', 'missing.json'],
      '--params-file missing.json: no such file',
    ],
    [['runner', 'dry-run', 'a.b.c'], 'not an execution ticket'],
  ])('bad input %j: a clear error, no stack, JSON envelope too', (args, message) => {
    const text = cli(args, project);
    expect(text.code).toBe(1);
    expect(text.stderr + text.stdout).toContain(message);
    expect(text.stderr).not.toMatch(/\n\s+at /);
    const envelope = cli([...args, '--json-output'], project);
    expect(envelope.code).toBe(1);
    const document = json(envelope.stdout);
    expect(document.ok).toBe(false);
    expect(document.command).toBe(args.slice(0, 2).join(' '));
    expect(JSON.stringify(document.errors) + JSON.stringify(document.data)).toContain(
      message.replace(/"/g, '\\"'),
    );
  });

  it('with the kubernetes executor and an API server that is down: refused at the first precheck, audited', () => {
    const { ticket, auditId } = allowScale();
    const kubeconfig = join(project, 'down.kubeconfig');
    writeFileSync(
      kubeconfig,
      'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: { server: "https://127.0.0.1:1", insecure-skip-tls-verify: true }\nusers:\n- name: u\n  user: { token: t }\ncontexts:\n- name: x\n  context: { cluster: c, user: u }\ncurrent-context: x\n',
      { mode: 0o600 },
    );
    const run = cli(
      [
        'runner',
        'execute',
        ticket,
        '--params',
        SCALE_JSON,
        '--executor',
        'k8s',
        '--kubeconfig',
        kubeconfig,
        '--timeout',
        '20',
      ],
      project,
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^refused {2}scale-deployment on dev\/test-app \(executor kubernetes/);
    expect(run.stdout).toContain('PRECHECK_FAILED');
    expect(run.stdout).toMatch(/✗ precheck:deployment-exists +failed/);
    expect(run.stderr).toBe('');
    const execution = auditEvents().find(
      (event) => event.event_type === 'execution' && event.decision_audit_id === auditId,
    );
    expect(execution).toMatchObject({ status: 'refused' });
  });

  it('refuses a forged ticket (signature) without running anything', () => {
    const { ticket } = allowScale();
    const [header, payload, signature] = ticket.split('.');
    const forged = `${header}.${payload}.${signature!.slice(0, -4)}AAAA`;
    const run = cli(['runner', 'execute', forged, '--params', SCALE_JSON, '--json-output'], project);
    expect(run.code).toBe(1);
    expect(json(run.stdout).errors[0].message).toMatch(/^TICKET_SIGNATURE: /);
  });
});

describe('audit show-state, state-coverage and rollback after a run', () => {
  it('shows the state capture by the decision id or the ids runner execute printed', () => {
    const { ticket, auditId } = allowScale();
    const run = json(
      cli(['runner', 'execute', ticket, '--params', SCALE_JSON, '--json-output'], project).stdout,
    );
    for (const id of [auditId, run.data.auditIds.execution, run.data.auditIds.stateCapture]) {
      const shown = cli(['audit', 'show-state', id], project);
      expect(shown.stderr).toBe('');
      expect(shown.code).toBe(0);
      expect(shown.stdout).toContain('scale-deployment on dev/test-app by deploy-agent');
      expect(shown.stdout).toContain(`decision      ${auditId}`);
      expect(shown.stdout).toContain('params        {"deployment":"app","namespace":"dev","replicas":3}');
      expect(shown.stdout).toContain('no field captured (a dry run reads no state)');
    }
    const asJson = json(
      cli(['audit', 'show-state', auditId, '--log-file', 'audit.jsonl', '--json-output'], project).stdout,
    );
    expect(asJson).toMatchObject({
      command: 'audit show-state',
      ok: true,
      data: {
        decisionAuditId: auditId,
        action: 'scale-deployment',
        params: SCALE,
        beforeState: {},
        afterState: {},
      },
    });
  });

  it('reports an unknown id as not found in the log, and a bad id as bad input', () => {
    const missing = cli(['audit', 'show-state', 'evt-0000'], project);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      `state capture for evt-0000 not found in ${join(project, 'audit.jsonl')}`,
    );
    const envelope = json(cli(['rollback', 'show', 'evt-0000', '--json-output'], project).stdout);
    expect(envelope).toMatchObject({ command: 'rollback show', ok: false, exitCode: 1, data: null });
    expect(envelope.errors[0].message).toContain(`not found in ${join(project, 'audit.jsonl')}`);
    const bad = cli(['rollback', 'check', 'evt-1;rm -rf /'], project);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('audit id: expected an audit event id');
    const noLog = cli(['audit', 'show-state', 'evt-1', '--log-file', 'nope.jsonl'], project);
    expect(noLog.code).toBe(1);
    expect(noLog.stderr).toMatch(/FILE_UNREADABLE/);
  });

  it('counts state coverage per action', () => {
    const coverage = cli(['audit', 'state-coverage', '--json-output'], project);
    expect(coverage.code).toBe(0);
    const report = json(coverage.stdout).data;
    expect(report.log).toBe(join(project, 'audit.jsonl'));
    const scale = report.actions.find((entry: { action: string }) => entry.action === 'scale-deployment');
    expect(scale.allowed).toBeGreaterThan(scale.captured);
    expect(scale.captured).toBeGreaterThan(0);
    const text = cli(['audit', 'state-coverage', 'audit.jsonl'], project);
    expect(text.stdout).toMatch(/^audit\.jsonl: \d+ of \d+ ALLOW decisions have a state capture/);
    expect(text.stdout).toMatch(/scale-deployment +\d+ +\d+ +\d+ +\d+\.\d%/);
  });

  it('rollback show explains that a dry run captured no replicas; rollback check refuses to guess', () => {
    const { ticket, auditId } = allowScale();
    expect(cli(['runner', 'execute', ticket, '--params', SCALE_JSON], project).code).toBe(0);
    const show = cli(['rollback', 'show', auditId], project);
    expect(show.code).toBe(1);
    expect(show.stdout).toContain('before_state.replicas was not captured');
    const check = cli(['rollback', 'check', auditId, '--json-output'], project);
    expect(check.code).toBe(1);
    expect(json(check.stdout).errors[0]).toMatchObject({ code: 'INPUT_INVALID' });
  });

  it('rollback show and check use the captured before-state (recorded by the agent)', async () => {
    const { auditId } = allowScale();
    // An agent that executes itself records the state through the SDK, in the runner's shape.
    const { AgentSafe } = await import('@agent-safe/sdk');
    const previous = process.cwd();
    process.chdir(project);
    try {
      const safe = new AgentSafe({ config: join(project, 'agent-safe.yaml') });
      await safe.recordState(auditId, { replicas: 2 }, { replicas: 3 });
      await safe.close();
    } finally {
      process.chdir(previous);
    }
    const state = cli(['audit', 'show-state', auditId], project);
    expect(state.stdout).toContain('replicas: 2 → 3  (changed)');
    const show = cli(['rollback', 'show', auditId, '--json-output'], project);
    expect(show.code).toBe(0);
    expect(json(show.stdout).data).toEqual({
      decisionAuditId: auditId,
      plan: {
        action: 'scale-deployment',
        target: 'dev/test-app',
        params: { namespace: 'dev', deployment: 'app', replicas: 2 },
        correlationId: auditId,
      },
    });
    const before = auditEvents().length;
    const check = cli(['rollback', 'check', auditId], project);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('rollback of scale-deployment');
    expect(check.stdout).toContain('params        {"namespace":"dev","deployment":"app","replicas":2}');
    expect(check.stdout).toMatch(/ALLOW {2}scale-deployment on dev\/test-app by deploy-agent/);
    expect(check.stdout).toContain('exec ticket');
    // Audited: a decision with the original audit id as its correlation id.
    const decisions = auditEvents()
      .slice(before)
      .filter((event) => event.event_type === 'decision');
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({
      action: 'scale-deployment',
      correlation_id: auditId,
      decision: 'ALLOW',
    });
    const asSomeone = json(
      cli(['rollback', 'check', auditId, '--caller', 'someone', '--json-output'], project).stdout,
    );
    expect(asSomeone.data.plan.params.replicas).toBe(2);
    expect(asSomeone.data.decision.caller).toBe('someone');
  });
});

describe('sensitive values', () => {
  it('never prints a sensitive param, in the calls, the params or the result, text or JSON', () => {
    appendFileSync(
      join(project, 'inventory.yaml'),
      '\n  - id: dev/app-config\n    type: k8s-configmap\n    environment: dev\n    sensitivity: public\n    identifiers: { cluster: dev-cluster, namespace: dev, name: app-config }\n',
    );
    const secret = 'postgres://app:hunter2-secret@db/app';
    const params = JSON.stringify({
      namespace: 'dev',
      configmap: 'app-config',
      key: 'DATABASE_URL',
      value: secret,
    });
    const check = cli(
      [
        'check',
        'update-configmap',
        '--target',
        'dev/app-config',
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
    const outputs = [
      cli(['runner', 'dry-run', ticket, '--params', params], project),
      cli(['runner', 'dry-run', ticket, '--params', params, '--json-output'], project),
      cli(['credential', 'resolve', ticket, '--params', params, '--json-output'], project),
      cli(['runner', 'execute', ticket, '--params', params, '--json-output'], project),
    ];
    for (const output of outputs) {
      expect(output.code).toBe(0);
      expect(output.stdout + output.stderr).not.toContain('hunter2');
    }
    expect(outputs[0]!.stdout).toContain('"DATABASE_URL":"***"');
    expect(json(outputs[1]!.stdout).data.params.value).toBe('***');
    expect(JSON.stringify(json(outputs[3]!.stdout).data.output)).toContain('***');
    expect(readFileSync(join(project, 'audit.jsonl'), 'utf8')).not.toContain('hunter2');
  });
});

describe('credential resolve', () => {
  it('prints the plan without minting anything, and the ticket stays usable', () => {
    const { ticket, auditId } = allowScale();
    const resolved = cli(
      ['credential', 'resolve', ticket, '--params', SCALE_JSON, '--namespace', 'ops'],
      project,
    );
    expect(resolved.stderr).toBe('');
    expect(resolved.code).toBe(0);
    expect(resolved.stdout).toContain('nothing was created, no token was minted');
    expect(resolved.stdout).toContain('300 s asked, 600 s requested from Kubernetes');
    expect(resolved.stdout).toMatch(/ServiceAccount ops\/agent-safe-/);
    expect(resolved.stdout).toMatch(/Role dev\/agent-safe-/);
    expect(resolved.stdout).toMatch(/RoleBinding dev\/agent-safe-/);
    const envelope = json(
      cli(['credential', 'resolve', ticket, '--params', SCALE_JSON, '--json-output'], project).stdout,
    );
    expect(envelope).toMatchObject({
      command: 'credential resolve',
      ok: true,
      data: {
        minted: false,
        consumed: false,
        ticket: { auditId },
        plan: {
          action: 'scale-deployment@1.0.0',
          type: 'kubernetes',
          ttl: { requestedSeconds: 300, grantedSeconds: 600 },
        },
      },
    });
    expect(envelope.data.plan.objects.map((object: { kind: string }) => object.kind)).toEqual([
      'ServiceAccount',
      'Role',
      'RoleBinding',
      'TokenRequest',
    ]);
    expect(envelope.data.plan.objects[0].namespace).toBe('agent-safe');
    expect(cli(['runner', 'execute', ticket, '--params', SCALE_JSON], project).code).toBe(0);
  });

  it('refuses a bad namespace and mismatching params', () => {
    const { ticket } = allowScale();
    const bad = cli(
      ['credential', 'resolve', ticket, '--params', SCALE_JSON, '--namespace', 'Bad_NS'],
      project,
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--namespace must be a Kubernetes namespace name');
    const other = cli(
      ['credential', 'resolve', ticket, '--params', '{"namespace":"dev","deployment":"app","replicas":1}'],
      project,
    );
    expect(other.code).toBe(1);
    expect(other.stdout).toContain('PARAMS_MISMATCH');
  });
});

describe('credential test-vault --vault env', () => {
  it('lists set and missing variables, never their values', () => {
    writeFileSync(
      join(project, 'vault.yaml'),
      'actions:\n  scale-deployment: { token: HE_VAULT_TOKEN, user: HE_VAULT_USER }\n',
    );
    const secret = 'do-not-print-this-value';
    const result = cli(
      ['credential', 'test-vault', '--vault', 'env', '--vault-config', 'vault.yaml'],
      project,
      {
        HE_VAULT_TOKEN: secret,
      },
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('✓ scale-deployment token: HE_VAULT_TOKEN is set');
    expect(result.stdout).toContain('✗ scale-deployment user: HE_VAULT_USER is not set or empty');
    expect(result.stdout + result.stderr).not.toContain(secret);
    const ok = cli(
      ['credential', 'test-vault', '--vault', 'env', '--vault-config', 'vault.yaml', '--json-output'],
      project,
      {
        HE_VAULT_TOKEN: secret,
        HE_VAULT_USER: secret,
      },
    );
    expect(ok.code).toBe(0);
    expect(json(ok.stdout).data).toMatchObject({
      vault: 'env',
      ok: true,
      missing: [],
      set: ['HE_VAULT_TOKEN', 'HE_VAULT_USER'],
    });
    expect(ok.stdout).not.toContain(secret);
  });

  it('needs its map, and refuses flags of the other vault', () => {
    const none = cli(['credential', 'test-vault', '--vault', 'env'], project);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('--vault env needs --vault-config FILE');
    const mixed = cli(
      ['credential', 'test-vault', '--vault', 'env', '--vault-config', 'vault.yaml', '--context', 'x'],
      project,
    );
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toContain('--context do(es) not apply to --vault env');
    const other = cli(['credential', 'test-vault', '--vault', 'vault-of-hashicorp'], project);
    expect(other.stderr).toContain('--vault must be one of kubernetes, aws, secrets-manager, env');
    writeFileSync(join(project, 'bad-vault.yaml'), 'actions: [a, b]\n');
    const bad = cli(
      ['credential', 'test-vault', '--vault', 'env', '--vault-config', 'bad-vault.yaml', '--json-output'],
      project,
    );
    expect(json(bad.stdout).errors[0]).toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
