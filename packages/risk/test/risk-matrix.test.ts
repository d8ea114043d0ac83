import { describe, expect, it } from '@jest/globals';
import { RISK_CLASSES, type RiskClass, SENSITIVITIES, type Sensitivity } from '@agent-safe/core';
import { RISK_MATRIX, effectiveRisk } from '../src/index.js';

const expected: [RiskClass, Sensitivity, RiskClass][] = [
  ['low', 'public', 'low'],
  ['low', 'internal', 'low'],
  ['low', 'restricted', 'medium'],
  ['low', 'critical', 'high'],
  ['medium', 'public', 'low'],
  ['medium', 'internal', 'medium'],
  ['medium', 'restricted', 'high'],
  ['medium', 'critical', 'critical'],
  ['high', 'public', 'medium'],
  ['high', 'internal', 'high'],
  ['high', 'restricted', 'critical'],
  ['high', 'critical', 'critical'],
  ['critical', 'public', 'high'],
  ['critical', 'internal', 'critical'],
  ['critical', 'restricted', 'critical'],
  ['critical', 'critical', 'critical'],
];

describe('effectiveRisk', () => {
  it.each(expected)('%s action on a %s target is %s', (actionRisk, sensitivity, result) => {
    expect(effectiveRisk(actionRisk, sensitivity)).toBe(result);
    expect(RISK_MATRIX[actionRisk][sensitivity]).toBe(result);
  });

  it('covers every risk class and sensitivity exactly once', () => {
    expect(expected).toHaveLength(RISK_CLASSES.length * SENSITIVITIES.length);
    for (const riskClass of RISK_CLASSES) {
      expect(Object.keys(RISK_MATRIX[riskClass]).sort()).toEqual([...SENSITIVITIES].sort());
    }
  });

  it('never lowers risk as sensitivity rises', () => {
    for (const riskClass of RISK_CLASSES) {
      const ranks = SENSITIVITIES.map((sensitivity) =>
        RISK_CLASSES.indexOf(effectiveRisk(riskClass, sensitivity)),
      );
      expect([...ranks].sort((a, b) => a - b)).toEqual(ranks);
    }
  });

  it('fails closed to critical for values outside the closed sets', () => {
    expect(effectiveRisk('extreme' as RiskClass, 'public')).toBe('critical');
    expect(effectiveRisk('low', 'secret' as Sensitivity)).toBe('critical');
    expect(effectiveRisk('__proto__' as RiskClass, 'public')).toBe('critical');
    expect(effectiveRisk('low', 'toString' as Sensitivity)).toBe('critical');
  });

  it('cannot be modified at run time', () => {
    expect(Object.isFrozen(RISK_MATRIX)).toBe(true);
    expect(Object.isFrozen(RISK_MATRIX.low)).toBe(true);
  });
});
