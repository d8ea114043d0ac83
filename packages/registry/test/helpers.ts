import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentSafeError } from '@agent-safe/core';

export const FIXTURES = join(import.meta.dirname, 'fixtures');

const created: string[] = [];

/** A fresh temporary directory, removed by {@link removeTempDirs}. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-safe-registry-'));
  created.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A temporary copy of the fixture action directory. */
export function copyOfFixtureActions(): string {
  const dir = tempDir();
  cpSync(join(FIXTURES, 'actions'), dir, { recursive: true });
  return dir;
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

/** The AgentSafeError thrown by `run`; fails the test when nothing or something else is thrown. */
export function thrown(run: () => unknown): AgentSafeError {
  try {
    run();
  } catch (error) {
    if (error instanceof AgentSafeError) return error;
    throw new Error(`expected an AgentSafeError, got ${String(error)}`);
  }
  throw new Error('expected an AgentSafeError, nothing was thrown');
}

/** The AgentSafeError a promise rejects with. */
export async function rejected(promise: Promise<unknown>): Promise<AgentSafeError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AgentSafeError) return error;
    throw new Error(`expected an AgentSafeError, got ${String(error)}`);
  }
  throw new Error('expected an AgentSafeError, the promise resolved');
}

/** A minimal valid action in the YAML schema, with overrides. */
export function rawAction(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'restart-widget',
    version: '1.0.0',
    description: 'Restart a widget',
    risk_class: 'low',
    target_types: ['widget'],
    parameters: [{ name: 'widget', type: 'string' }],
    ...overrides,
  };
}
