import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { cli } from './run-cli.js';

// validate loads the audit checkpoint key as the audit log will: one that cannot load is an error now,
// not a DENY at the first check.

function project(settings: string): string {
  const parent = mkdtempSync(join(tmpdir(), 'agent-safe-checkpoint-key-'));
  expect(cli(['init', 'p'], parent).code).toBe(0);
  const dir = join(parent, 'p');
  appendFileSync(join(dir, 'agent-safe.yaml'), settings);
  return dir;
}

describe('validate and audit_checkpoints.key', () => {
  it('is an error naming the setting when the key cannot be loaded', () => {
    const dir = project('audit_checkpoints:\n  key: env:AGENT_SAFE_TEST_UNSET_CHECKPOINT_KEY\n');
    const result = cli(['validate'], dir);
    expect(result.code).toBe(1);
    expect(result.stdout + result.stderr).toMatch(
      /audit_checkpoints\.key: env:AGENT_SAFE_TEST_UNSET_CHECKPOINT_KEY cannot be used/,
    );
  });

  it('says the key loads when it does', () => {
    const dir = project('audit_checkpoints:\n  key: env:AGENT_SAFE_TEST_CHECKPOINT_KEY\n');
    const result = cli(['validate'], dir, { AGENT_SAFE_TEST_CHECKPOINT_KEY: 'k'.repeat(48) });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /audit_checkpoints\.key: checkpoint key \S+ loads from env:AGENT_SAFE_TEST_CHECKPOINT_KEY/,
    );
  });
});
