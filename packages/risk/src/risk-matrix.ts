import type { RiskClass, Sensitivity } from '@agent-safe/core';

/**
 * Effective risk of an action on a target, indexed by the action's own risk class and then by the
 * target's sensitivity. A sensitive target raises the risk; a public one lowers it by one step, except
 * that nothing below `low` exists. Frozen: the matrix is part of the policy semantics.
 */
export const RISK_MATRIX: Readonly<Record<RiskClass, Readonly<Record<Sensitivity, RiskClass>>>> =
  Object.freeze({
    low: Object.freeze({ public: 'low', internal: 'low', restricted: 'medium', critical: 'high' }),
    medium: Object.freeze({ public: 'low', internal: 'medium', restricted: 'high', critical: 'critical' }),
    high: Object.freeze({ public: 'medium', internal: 'high', restricted: 'critical', critical: 'critical' }),
    critical: Object.freeze({
      public: 'high',
      internal: 'critical',
      restricted: 'critical',
      critical: 'critical',
    }),
  });

/**
 * The risk of running an action of class `actionRisk` against a target of `sensitivity`.
 * Fails closed: an unknown risk class or sensitivity (a value that bypassed type checks) yields
 * `critical`, so a malformed input can never lower the risk a policy sees.
 */
export function effectiveRisk(actionRisk: RiskClass, sensitivity: Sensitivity): RiskClass {
  const row = Object.hasOwn(RISK_MATRIX, actionRisk) ? RISK_MATRIX[actionRisk] : undefined;
  if (row === undefined || !Object.hasOwn(row, sensitivity)) return 'critical';
  return row[sensitivity];
}
