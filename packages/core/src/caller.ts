/** One hop of a delegation chain: the agent that delegated, and the scope it held. */
export interface DelegationLink {
  readonly agentId: string;
  readonly roles: readonly string[];
  readonly groups: readonly string[];
  /** Seconds since the epoch at which the hop was made. */
  readonly delegatedAt: number;
}

/** Who is asking. Built from a verified token or, when configuration allows it, from a plain id. */
export interface Caller {
  readonly agentId: string;
  readonly agentName?: string;
  readonly roles: readonly string[];
  readonly groups: readonly string[];
  /** True only when the identity came from a verified token. */
  readonly authenticated: boolean;
  /** Delegating agents from the root orchestrator to the immediate parent; empty when not delegated. */
  readonly delegationChain: readonly DelegationLink[];
}

/** A caller known only by a plain id (not authenticated). */
export function anonymousCaller(
  agentId: string,
  roles: readonly string[] = [],
  groups: readonly string[] = [],
): Caller {
  return { agentId, roles, groups, authenticated: false, delegationChain: [] };
}
