import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEventBody } from '@agent-safe/core';

export async function withTempDir<T>(run: (directory: string) => Promise<T>): Promise<T> {
  const directory = await mkdtemp(join(tmpdir(), 'agent-safe-audit-test-'));
  try {
    return await run(directory);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

export function decision(index: number, extra: Record<string, unknown> = {}): AuditEventBody {
  return {
    event_id: `evt-${index}`,
    timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, index)).toISOString(),
    event_type: 'decision',
    action: 'k8s.restart_pod',
    target: 'staging/web',
    caller: 'agent:tester',
    params: { namespace: 'web', pod: `web-${index}` },
    decision: 'ALLOW',
    reason: 'matched rule allow-staging',
    ...extra,
  };
}
