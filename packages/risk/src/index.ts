export { RISK_MATRIX, effectiveRisk } from './risk-matrix.js';
export {
  CumulativeRiskTracker,
  DEFAULT_RISK_SCORES,
  MAX_CUMULATIVE_RISK_WINDOW_SECONDS,
} from './cumulative-risk.js';
export type {
  CumulativeRiskInput,
  CumulativeRiskOptions,
  CumulativeRiskOutcome,
  CumulativeRiskStepInput,
  RiskScores,
} from './cumulative-risk.js';
