import { createHash } from 'node:crypto';
import { canonicalJson } from '@agent-safe/core';
import type { PolicyRule } from './policy-rule.js';

/**
 * SHA-256 (hex) of the rules' canonical JSON, without their source locations: moving a rule to another
 * file or editing a comment keeps the revision, changing what any rule means changes it.
 */
export function policyRevision(rules: readonly PolicyRule[]): string {
  const body = rules.map(({ source: _source, ...rule }) => rule);
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}
