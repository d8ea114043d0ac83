import type { ActionDefinition } from './action.js';
import type { DecisionError } from './decision.js';
import type { TargetDefinition } from './target.js';

/** Outcome of validating a request's params against an action definition. */
export type ParamValidationResult =
  | { readonly ok: true; readonly params: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly errors: readonly DecisionError[] };

/** What the policy decision point needs from an action registry. */
export interface ActionLookup {
  get(name: string): ActionDefinition | undefined;
  /** Validates and applies defaults. Never throws for bad input. */
  validateParams(name: string, params: unknown): ParamValidationResult;
  names(): Iterable<string>;
  /** Content hash of every definition: changes whenever any definition changes. */
  readonly revision: string;
}

/** What the policy decision point needs from a target inventory. */
export interface TargetLookup {
  get(id: string): TargetDefinition | undefined;
  /** Every target (used by policy analysis to reason about effective risk). */
  list(): Iterable<TargetDefinition>;
  /** Every environment that some target is in. */
  environments(): ReadonlySet<string>;
  readonly revision: string;
}
