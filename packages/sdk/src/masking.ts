import type { ActionDefinition } from '@agent-safe/core';

/** What replaces a sensitive value in the audit log. */
export const MASK = '***';

/**
 * Copies params with every parameter the action marks `sensitive` replaced by {@link MASK}, and returns
 * the masked paths. Returns the params object itself (no copy) when nothing is sensitive.
 */
export function maskParams(
  action: ActionDefinition | undefined,
  params: Readonly<Record<string, unknown>>,
): { params: Readonly<Record<string, unknown>>; maskedPaths: string[] } {
  if (!action) return { params, maskedPaths: [] };
  let copy: Record<string, unknown> | undefined;
  const maskedPaths: string[] = [];
  for (const parameter of action.parameters) {
    if (parameter.sensitive && Object.hasOwn(params, parameter.name)) {
      copy ??= { ...params };
      copy[parameter.name] = MASK;
      maskedPaths.push(`params.${parameter.name}`);
    }
  }
  return { params: copy ?? params, maskedPaths };
}
