import type { Caller } from '@agent-safe/core';

export function caller(overrides: Partial<Caller> = {}): Caller {
  return {
    agentId: 'agent-1',
    roles: [],
    groups: [],
    authenticated: true,
    delegationChain: [],
    ...overrides,
  };
}

export function delegatedBy(...agentIds: string[]): Caller['delegationChain'] {
  return agentIds.map((agentId) => ({ agentId, roles: [], groups: [], delegatedAt: 0 }));
}
