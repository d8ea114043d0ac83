import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A signing key for tests only (HS256, 32+ bytes). */
export const TEST_KEY = 'server-test-signing-key-0123456789abcdef';

/** A fresh copy of the fixture project (actions, policies, inventory) in a temp dir. */
export function copyProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-safe-server-'));
  cpSync(join(import.meta.dirname, 'fixtures', 'project'), dir, { recursive: true });
  return dir;
}

/** POSTs JSON (or the given raw body and content type) and returns status and parsed body. */
export async function post(
  url: string,
  body: unknown,
  options: { token?: string; contentType?: string; raw?: string } = {},
  // biome-ignore lint/suspicious/noExplicitAny: tests read answer bodies loosely
): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': options.contentType ?? 'application/json',
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    body: options.raw ?? JSON.stringify(body),
  });
  return { status: response.status, body: await response.json(), headers: response.headers };
}
