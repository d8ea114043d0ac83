import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { cli } from './run-cli.js';

// The approval loop as an operator and an agent drive it from the command line.

const params = '{"namespace":"prod","deployment":"api-server"}';
const checkArgs = [
  'check',
  'restart-deployment',
  '--target',
  'prod/api-server',
  '--caller',
  'deploy-agent',
  '--params',
  params,
];

let dir: string;
const tokens: Record<string, string> = {};

function json(result: { stdout: string }) {
  return JSON.parse(result.stdout) as {
    ok: boolean;
    exitCode: number;
    data: any;
    errors: { code: string; message: string }[];
  };
}

beforeAll(() => {
  const parent = mkdtempSync(join(tmpdir(), 'agent-safe-approval-cli-'));
  dir = join(parent, 'project');
  expect(cli(['init', dir], parent).code).toBe(0);
  expect(cli(['identity', 'keygen', '--out', 'keys'], dir).code).toBe(0);
  appendFileSync(
    join(dir, 'agent-safe.yaml'),
    [
      'signing_key: file:keys/signing-key.secret',
      'allow_plain_callers: true',
      'approvals:',
      '  approver_roles: [approver]',
      '',
    ].join('\n'),
  );
  for (const [name, roles] of [
    ['alice', 'approver'],
    ['bob', 'approver'],
    ['deploy-agent', 'approver'],
    ['dave', 'deployer'],
  ]) {
    const created = cli(['identity', 'create', '--agent-id', name!, '--roles', roles!], dir);
    expect(created.code).toBe(0);
    tokens[name!] = created.stdout.trim();
  }
});

describe('agent-safe approval', () => {
  it('REQUIRE_APPROVAL → approve twice (critical) → the same check is ALLOW with one ticket', () => {
    const first = cli([...checkArgs, '--json-output'], dir);
    expect(first.code).toBe(3);
    const id = json(first).data.approvalId as string;
    expect(id).toMatch(/^apr-[0-9a-f]{32}$/);
    expect(cli(checkArgs, dir).stdout).toContain(`approval approve ${id}`);

    const listed = json(cli(['approval', 'list', '--status', 'pending', '--json-output'], dir));
    expect(listed.data.requests.map((r: { id: string }) => r.id)).toEqual([id]);

    const byAlice = cli(
      ['approval', 'approve', id, '--approver-token', 'env:TOKEN', '--comment', 'CHG-7'],
      dir,
      { TOKEN: tokens.alice! },
    );
    expect(byAlice.code).toBe(0);
    expect(byAlice.stdout).toContain('1 of 2 approvals');
    expect(cli(checkArgs, dir).code).toBe(3);
    const byBob = cli(['approval', 'approve', id, '--approver-token', '-'], dir, {}, tokens.bob);
    expect(byBob.code).toBe(0);
    expect(byBob.stdout).toContain('approved');

    const collected = cli([...checkArgs, '--json-output'], dir);
    expect(collected.code).toBe(0);
    const decision = json(collected).data;
    expect(decision).toMatchObject({ result: 'ALLOW', approvalId: id });
    expect(decision.ticket.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const again = json(cli([...checkArgs, '--json-output'], dir)).data;
    expect(again.ticket.token).toBe(decision.ticket.token);

    const shown = json(cli(['approval', 'show', id, '--json-output'], dir)).data;
    expect(shown).toMatchObject({
      status: 'used',
      approvals: [{ approver: 'alice', comment: 'CHG-7' }, { approver: 'bob' }],
    });
    expect(shown.ticket).toEqual({ nonce: decision.ticket.nonce, expiresAt: expect.any(String) });
    expect(JSON.stringify(shown)).not.toContain(decision.ticket.token);

    const events = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    for (const type of ['approval_requested', 'approval_granted', 'approval_ticket_issued'])
      expect(events).toContain(`"event_type":"${type}"`);
    expect(cli(['audit', 'verify', 'audit.jsonl'], dir).code).toBe(0);
  });

  it('refuses self-approval, a non-approver, a plain name and a token on the command line, each naming the fix', () => {
    const id = json(
      cli(
        [
          'check',
          'drain-node',
          '--target',
          'prod/worker-node-01',
          '--caller',
          'deploy-agent',
          '--params',
          '{"node":"worker-node-01"}',
          '--json-output',
        ],
        dir,
      ),
    ).data.approvalId as string;
    expect(id).toMatch(/^apr-/);
    const self = cli(['approval', 'approve', id, '--approver-token', 'env:TOKEN', '--json-output'], dir, {
      TOKEN: tokens['deploy-agent']!,
    });
    expect(self.code).toBe(1);
    expect(json(self).errors[0]).toMatchObject({
      code: 'APPROVAL_REFUSED',
      message: expect.stringContaining('cannot decide it'),
    });
    const notApprover = cli(['approval', 'approve', id, '--approver-token', 'env:TOKEN'], dir, {
      TOKEN: tokens.dave!,
    });
    expect(notApprover.code).toBe(1);
    expect(notApprover.stderr).toMatch(/dave is not an approver.*approver_roles/);
    const plain = cli(['approval', 'approve', id, '--approver-token', 'env:TOKEN'], dir, { TOKEN: 'alice' });
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('IDENTITY_INVALID');
    const literal = cli(['approval', 'approve', id, '--approver-token', tokens.alice!], dir);
    expect(literal.code).toBe(1);
    expect(literal.stderr).toContain('not the token itself');
    expect(literal.stderr).not.toContain(tokens.alice!);
    const denied = cli(
      ['approval', 'deny', id, '--approver-token', 'env:TOKEN', '--comment', 'freeze'],
      dir,
      { TOKEN: tokens.bob! },
    );
    expect(denied.code).toBe(0);
    const late = cli(['approval', 'approve', id, '--approver-token', 'env:TOKEN'], dir, {
      TOKEN: tokens.alice!,
    });
    expect(late.code).toBe(1);
    expect(late.stderr).toContain('already denied');
    expect(cli(['approval', 'list', '--status', 'bogus'], dir).stderr).toContain('--status must be one of');
    expect(cli(['approval', 'show', 'apr-nope'], dir).stderr).toContain('apr- followed by 32 hex digits');
  });

  it('says approvals are not configured in a project without them', () => {
    const parent = mkdtempSync(join(tmpdir(), 'agent-safe-approval-cli-'));
    expect(cli(['init', 'p'], parent).code).toBe(0);
    const listed = cli(['approval', 'list'], join(parent, 'p'));
    expect(listed.code).toBe(1);
    expect(listed.stderr).toContain('approvals are not configured');
  });

  it('init --approvals scaffolds a key and the approver role, and its printed loop works', () => {
    const parent = mkdtempSync(join(tmpdir(), 'agent-safe-approval-cli-'));
    const created = cli(['init', 'p', '--approvals'], parent);
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('approval approve <id> --approver-token env:ALICE');
    const project = join(parent, 'p');
    expect(readFileSync(join(project, 'agent-safe.yaml'), 'utf8')).toContain('approver_roles: [approver]');
    expect(cli(['validate'], project).code).toBe(0);
    const alice = cli(
      ['identity', 'create', '--agent-id', 'alice', '--roles', 'approver'],
      project,
    ).stdout.trim();
    const request = [
      'check',
      'restart-deployment',
      '--target',
      'prod/web-frontend',
      '--caller',
      'deploy-agent',
      '--params',
      '{"namespace":"prod","deployment":"web-frontend"}',
      '--json-output',
    ];
    const first = cli(request, project);
    expect(first.code).toBe(3);
    const id = json(first).data.approvalId as string;
    expect(
      cli(['approval', 'approve', id, '--approver-token', 'env:ALICE'], project, { ALICE: alice }).code,
    ).toBe(0);
    const collected = cli(request, project);
    expect(collected.code).toBe(0);
    expect(json(collected).data.ticket.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    // Without the flag the project has no key and no approvals, and init says how to turn them on.
    const plain = cli(['init', 'q'], parent);
    expect(plain.stdout).toContain('agent-safe init --approvals');
    expect(readFileSync(join(parent, 'q', 'agent-safe.yaml'), 'utf8')).not.toContain('approvals:');
  });
});
