import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { cli } from './run-cli.js';

// The kill switch as an operator drives it from the command line, against the project's file store.

const checkArgs = [
  'check',
  'restart-deployment',
  '--target',
  'dev/test-app',
  '--params',
  '{"namespace":"dev","deployment":"app"}',
];

let parent: string;
let dir: string;
let memoryDir: string;
const tokens: Record<string, string> = {};

function json(result: { stdout: string }) {
  return JSON.parse(result.stdout) as {
    command: string;
    ok: boolean;
    exitCode: number;
    // biome-ignore lint/suspicious/noExplicitAny: tests read payloads loosely
    data: any;
    errors: { code: string; message: string }[];
  };
}

beforeAll(() => {
  parent = mkdtempSync(join(tmpdir(), 'agent-safe-agent-cli-'));
  dir = join(parent, 'project');
  memoryDir = join(parent, 'memory');
  expect(cli(['init', dir], parent).code).toBe(0);
  expect(cli(['init', memoryDir], parent).code).toBe(0);
  expect(cli(['identity', 'keygen', '--out', 'keys'], dir).code).toBe(0);
  appendFileSync(
    join(dir, 'agent-safe.yaml'),
    ['signing_key: file:keys/signing-key.secret', 'store: file:.agent-safe/state', ''].join('\n'),
  );
  appendFileSync(join(memoryDir, 'agent-safe.yaml'), 'store: memory\n');
  const parentToken = cli(['identity', 'create', '--agent-id', 'orchestrator', '--roles', 'deployer'], dir);
  expect(parentToken.code).toBe(0);
  tokens.orchestrator = parentToken.stdout.trim();
});

describe('agent-safe agent', () => {
  it('suspends, lists and resumes through the shared file store; checks of the agent are DENY meanwhile', () => {
    const env = { ORCHESTRATOR: tokens.orchestrator! };
    const token = ['--caller', 'env:ORCHESTRATOR'];
    const before = cli([...checkArgs, ...token], dir, env);
    expect(before.code).toBe(0);

    const suspended = cli(
      ['agent', 'suspend', 'orchestrator', '--reason', 'leaked token', '--by', 'sec-admin', '--json-output'],
      dir,
    );
    expect(suspended.code).toBe(0);
    expect(json(suspended)).toMatchObject({
      command: 'agent suspend',
      ok: true,
      data: {
        suspension: { agentId: 'orchestrator', by: 'sec-admin', reason: 'leaked token' },
        deniedApprovals: [],
      },
      errors: [],
    });

    const denied = cli([...checkArgs, ...token, '--json-output'], dir, env);
    expect(denied.code).toBe(2);
    expect(json(denied).data.reason).toMatch(
      /^Denied because agent orchestrator is suspended \(kill switch: by sec-admin at .*: leaked token\)$/,
    );

    const listed = cli(['agent', 'list'], dir);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^orchestrator {2}suspended by sec-admin at .*: leaked token\n$/);

    const resumed = cli(['agent', 'resume', 'orchestrator', '--by', 'sec-admin', '--reason', 'rotated'], dir);
    expect(resumed.code).toBe(0);
    expect(cli([...checkArgs, ...token], dir, env).code).toBe(0);
    const again = cli(['agent', 'resume', 'orchestrator', '--json-output'], dir);
    expect(again.code).toBe(1);
    expect(json(again).errors[0]!.message).toContain('agent orchestrator is not suspended');
    expect(json(cli(['agent', 'list', '--json-output'], dir)).data.suspensions).toEqual([]);

    const events = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(
      events.filter((event) => event.event_type.startsWith('agent_')).map((event) => event.event_type),
    ).toEqual(['agent_suspended', 'agent_resumed']);
    expect(events.find((event) => event.event_type === 'agent_resumed')).toMatchObject({
      by: 'sec-admin',
      reason: 'rotated',
    });
  });

  it('refuses with the memory store, saying what to set instead', () => {
    const result = cli(['agent', 'suspend', 'orchestrator', '--reason', 'x', '--json-output'], memoryDir);
    expect(result.code).toBe(1);
    const envelope = json(result);
    expect(envelope.errors[0]).toMatchObject({ code: 'USAGE' });
    expect(envelope.errors[0]!.message).toContain('the kill switch needs a shared store');
    expect(envelope.errors[0]!.message).toContain('store: file:./.agent-safe/state');
    const plain = cli(['agent', 'list'], memoryDir);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('POST /v1/admin/agents/{id}/suspend');
  });
});
