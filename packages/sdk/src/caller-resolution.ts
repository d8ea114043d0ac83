import { type Caller, type CheckRequest, anonymousCaller } from '@agent-safe/core';

/** Plain-id callers are immutable values: reuse them instead of allocating one per check. */
const plainCallers = new Map<string, Caller>();
const MAX_PLAIN_CALLERS = 10_000;

/** An unauthenticated caller known by its id alone (no roles, no groups). */
export function plainCaller(agentId: string): Caller {
  let caller = plainCallers.get(agentId);
  if (caller === undefined) {
    if (plainCallers.size >= MAX_PLAIN_CALLERS) plainCallers.clear();
    caller = Object.freeze(anonymousCaller(agentId));
    plainCallers.set(agentId, caller);
  }
  return caller;
}

/** Recorded as the caller of a request whose caller field itself is malformed: nothing can be attributed. */
export const INVALID_CALLER: Caller = Object.freeze(anonymousCaller('(invalid caller)'));

/**
 * The caller of a request without identity verification. A plain id is just that id. A Caller object
 * comes from in-process code and is never authenticated; its roles, groups and delegation chain are
 * ignored unless the host opted in (`trustCallerObjects`), because anything that can build a request
 * could otherwise claim any role. Assumes {@link callerProblem} found nothing wrong.
 */
export function resolvePlainCaller(caller: CheckRequest['caller'], trustCallerObjects: boolean): Caller {
  if (caller === undefined || caller === null || caller === '') return plainCaller('anonymous');
  if (typeof caller === 'string') return plainCaller(caller);
  if (!trustCallerObjects) return plainCaller(String(caller.agentId));
  return {
    agentId: String(caller.agentId),
    agentName: caller.agentName,
    roles: Array.isArray(caller.roles) ? caller.roles.map(String) : [],
    groups: Array.isArray(caller.groups) ? caller.groups.map(String) : [],
    authenticated: false,
    delegationChain: Array.isArray(caller.delegationChain) ? caller.delegationChain : [],
  };
}

/** True when the caller's roles, groups or chain were asserted by the host rather than a verified token. */
export function hostAssertedClaims(caller: Caller): boolean {
  return (
    !caller.authenticated &&
    (caller.roles.length > 0 || caller.groups.length > 0 || caller.delegationChain.length > 0)
  );
}
