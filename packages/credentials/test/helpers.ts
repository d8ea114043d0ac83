import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ActionDefinition } from '@agent-safe/core';
import { parseActionDefinition, parseYaml } from '@agent-safe/registry';

const KUBERNETES_FIXTURES = join(import.meta.dirname, '..', '..', '..', 'catalog', 'kubernetes');

/** Every action of the curated catalogue (catalog/kubernetes), parsed by the registry's own loader. */
export function loadCatalogue(): ActionDefinition[] {
  return readdirSync(KUBERNETES_FIXTURES)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const path = join(KUBERNETES_FIXTURES, file);
      const result = parseActionDefinition(parseYaml(readFileSync(path, 'utf8'), path), path);
      if (result.action === undefined) throw new Error(`${file}: ${JSON.stringify(result.issues)}`);
      return result.action;
    });
}

export function catalogueAction(name: string): ActionDefinition {
  const action = loadCatalogue().find((candidate) => candidate.name === name);
  if (action === undefined) throw new Error(`no fixture ${name}`);
  return action;
}

/** Runs `run` and returns the error it throws (fails the test when it does not throw). */
export function thrown(
  run: () => unknown,
): Error & { code?: string; issues?: { path?: string; message: string }[]; describe?: () => string } {
  try {
    run();
  } catch (error) {
    return error as never;
  }
  throw new Error('expected a throw');
}

export async function rejected(
  run: () => Promise<unknown>,
): Promise<Error & { code?: string; describe?: () => string }> {
  try {
    await run();
  } catch (error) {
    return error as never;
  }
  throw new Error('expected a rejection');
}
