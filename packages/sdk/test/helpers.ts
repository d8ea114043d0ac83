import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh copy of the fixture project in a temp dir, so tests may write audit logs and configs. */
export function copyProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-safe-sdk-'));
  cpSync(join(import.meta.dirname, 'fixtures', 'project'), dir, { recursive: true });
  return dir;
}

/** Reads a JSONL file into objects. */
export async function readJsonl(file: string): Promise<Record<string, unknown>[]> {
  const { readFileSync } = await import('node:fs');
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
