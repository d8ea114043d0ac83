import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { loadProjectConfig } from '../src/project-config.js';

/** Writes agent-safe.yaml with the given text in a fresh directory; returns the directory. */
function project(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-safe-server-settings-'));
  writeFileSync(join(dir, 'agent-safe.yaml'), yaml);
  return dir;
}

/** The issues of a configuration that fails to load. */
function issuesOf(yaml: string): { path?: string; message: string }[] {
  try {
    loadProjectConfig({ cwd: project(yaml) });
  } catch (error) {
    return (error as { issues: { path?: string; message: string }[] }).issues;
  }
  throw new Error('the configuration loaded');
}

describe('the server: block of agent-safe.yaml', () => {
  it('reads admin roles, the Slack mapping and TLS files (paths against the file, secrets as sources)', () => {
    const dir = project(`
server:
  admin_roles: [ops, auditor]
  slack:
    signing_secret: env:SLACK_SIGNING_SECRET
    users:
      U0123ABCD: alice
      W0456EFGH: { agent: carol, roles: [approver] }
  tls:
    cert: tls/server.crt
    key: /etc/agent-safe/server.key
    client_ca: tls/ca.crt
`);
    expect(loadProjectConfig({ cwd: dir }).server).toEqual({
      adminRoles: ['ops', 'auditor'],
      slack: {
        signingSecret: 'env:SLACK_SIGNING_SECRET',
        users: { U0123ABCD: { agentId: 'alice' }, W0456EFGH: { agentId: 'carol', roles: ['approver'] } },
      },
      tls: {
        cert: join(dir, 'tls/server.crt'),
        key: '/etc/agent-safe/server.key',
        clientCa: join(dir, 'tls/ca.crt'),
      },
    });
    const file = project(
      'server:\n  slack:\n    signing_secret: file:secret.txt\n    users: { U0123ABCD: alice }\n',
    );
    expect(loadProjectConfig({ cwd: file }).server?.slack?.signingSecret).toBe(
      `file:${join(file, 'secret.txt')}`,
    );
  });

  it('refuses mistakes, naming the key and the fix', () => {
    expect(issuesOf('server: [ops]')).toEqual([expect.objectContaining({ path: 'server' })]);
    expect(issuesOf('server:\n  admin_role: [ops]\n')).toEqual([
      expect.objectContaining({ path: 'server.admin_role', message: expect.stringContaining('admin_roles') }),
    ]);
    expect(issuesOf('server:\n  admin_roles: ops\n')[0]).toMatchObject({ path: 'server.admin_roles' });
    // The secret itself in the file is refused, and not echoed.
    const inline = issuesOf(
      'server:\n  slack:\n    signing_secret: 8f14e45fceea167a5a36dedd4bea2543\n    users: { U0123ABCD: alice }\n',
    );
    expect(inline).toEqual([expect.objectContaining({ path: 'server.slack.signing_secret' })]);
    expect(JSON.stringify(inline)).not.toContain('8f14e45f');
    expect(
      issuesOf('server:\n  slack:\n    signing_secret: env:S\n    users: { alice: alice }\n')[0],
    ).toMatchObject({
      path: 'server.slack.users.alice',
      message: expect.stringContaining('Slack user id'),
    });
    expect(issuesOf('server:\n  slack:\n    users: { U0123ABCD: alice }\n')[0]).toMatchObject({
      path: 'server.slack.signing_secret',
      message: expect.stringContaining('missing'),
    });
    expect(
      issuesOf(
        'server:\n  slack:\n    signing_secret: env:S\n    users: { U0123ABCD: { agent: carol, roles: [] } }\n',
      )[0],
    ).toMatchObject({ path: 'server.slack.users.U0123ABCD.roles' });
    expect(issuesOf('server:\n  tls:\n    cert: a.crt\n')).toEqual([
      expect.objectContaining({ path: 'server.tls.key', message: expect.stringContaining('missing') }),
    ]);
    expect(issuesOf('server:\n  tls:\n    cert: a.crt\n    key: a.key\n    ca: c.crt\n')[0]).toMatchObject({
      path: 'server.tls.ca',
      message: expect.stringContaining('client_ca'),
    });
  });
});
