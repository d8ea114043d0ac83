/** Risk classes, lowest first. The order is significant: it is used for ranking. */
export const RISK_CLASSES = ['low', 'medium', 'high', 'critical'] as const;

/** How dangerous an action is, on its own or in context. */
export type RiskClass = (typeof RISK_CLASSES)[number];

/** Target sensitivities, least sensitive first. */
export const SENSITIVITIES = ['public', 'internal', 'restricted', 'critical'] as const;

/** How much harm a change to a target could cause. */
export type Sensitivity = (typeof SENSITIVITIES)[number];

const riskRanks: Record<RiskClass, number> = { low: 0, medium: 1, high: 2, critical: 3 };

/** Numeric rank of a risk class (low = 0 … critical = 3). */
export function riskRank(riskClass: RiskClass): number {
  return riskRanks[riskClass];
}

/** True when `value` is one of {@link RISK_CLASSES}. */
export function isRiskClass(value: unknown): value is RiskClass {
  return typeof value === 'string' && Object.hasOwn(riskRanks, value);
}

/** True when `value` is one of {@link SENSITIVITIES}. */
export function isSensitivity(value: unknown): value is Sensitivity {
  return typeof value === 'string' && (SENSITIVITIES as readonly string[]).includes(value);
}
