import { join } from 'node:path';
import type { ExecutionRequest } from '@agent-safe/core';
import { ActionRegistry } from '@agent-safe/registry';

/** The real catalogue, as shipped in the repository. */
export const CATALOGUE = join(import.meta.dirname, '..', '..', '..', 'catalog', 'kubernetes');

let registry: ActionRegistry | undefined;

export function catalogue(): ActionRegistry {
  registry ??= ActionRegistry.loadSync(CATALOGUE);
  return registry;
}

/**
 * An ExecutionRequest for a catalogue action with params validated (defaults applied) exactly as the
 * runner does it; throws when the params are not valid for the action.
 */
export function executionRequest(
  action: string,
  params: Record<string, unknown>,
  target = 'test-target',
): ExecutionRequest {
  const actions = catalogue();
  const definition = actions.get(action);
  if (definition === undefined) throw new Error(`no catalogue action ${action}`);
  const checked = actions.validateParams(action, params);
  if (!checked.ok)
    throw new Error(`bad params for ${action}: ${checked.errors.map((e) => e.message).join('; ')}`);
  return {
    action: definition,
    target,
    params: checked.params,
    ticket: {
      token: 'not-a-real-token',
      nonce: 'nonce-1',
      action,
      target,
      caller: 'test-agent',
      paramsDigest: '0'.repeat(64),
      auditId: 'evt_test',
      policyRevision: 'rev',
      issuer: 'agent-safe',
      issuedAt: 0,
      expiresAt: 0,
    },
  };
}
