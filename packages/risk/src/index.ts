export { RISK_MATRIX, effectiveRisk } from './risk-matrix.js';
