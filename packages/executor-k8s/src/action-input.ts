import type { ApiCall, ExecutionRequest } from '@agent-safe/core';
import { KubernetesCallError, type Session } from './session.js';

/** What an action implementation gets: the request, the planned calls (the dry run's) and the session. */
export interface ActionInput {
  readonly request: ExecutionRequest;
  /** Exactly `kubernetesApiCalls(action, params)`: the bodies sent are taken from here. */
  readonly planned: readonly ApiCall[];
  readonly session: Session;
}

/** What an action implementation reports (the executor adds the calls). */
export interface ActionResult {
  readonly ok: boolean;
  readonly output?: unknown;
  readonly error?: string;
}

/** A param's value, or the action definition's default for it. */
export function param(request: ExecutionRequest, name: string): unknown {
  const value = request.params[name];
  if (value !== undefined && value !== null) return value;
  return request.action.parameters.find((parameter) => parameter.name === name)?.default;
}

export function textParam(request: ExecutionRequest, name: string): string {
  const value = param(request, name);
  if (typeof value !== 'string' || value.length === 0) {
    throw new KubernetesCallError(`param "${name}" must be a non-empty string`);
  }
  return value;
}

export function integerParam(request: ExecutionRequest, name: string, fallback?: number): number {
  const value = param(request, name) ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new KubernetesCallError(`param "${name}" must be an integer`);
  }
  return value;
}

export function optionalInteger(request: ExecutionRequest, name: string): number | undefined {
  const value = param(request, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new KubernetesCallError(`param "${name}" must be an integer`);
  }
  return value;
}

export function booleanParam(request: ExecutionRequest, name: string, fallback: boolean): boolean {
  const value = param(request, name);
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new KubernetesCallError(`param "${name}" must be true or false`);
  return value;
}

/** The planned call at `index` (the plan and the executor must agree on its shape). */
export function plannedCall(input: ActionInput, index: number): ApiCall {
  const call = input.planned[index];
  if (call === undefined) {
    throw new KubernetesCallError(
      `internal: the plan of ${input.request.action.name} has no call ${index + 1}; the executor and kubernetesApiCalls disagree`,
    );
  }
  return call;
}

/** `namespace/name` of an object read back. */
export function objectId(object: { metadata?: { namespace?: string; name?: string } }): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}
