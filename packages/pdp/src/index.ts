export { PolicyDecisionPoint } from './policy-decision-point.js';
export type { PolicyDecisionPointOptions } from './policy-decision-point.js';
export type { Evaluation, EvaluationRequest } from './evaluation.js';
export { loadPolicies, loadPoliciesSync } from './load-policies.js';
export type { LoadPoliciesOptions } from './load-policies.js';
export { parsePolicyDocument } from './parse-policy-document.js';
export type { ParsedPolicyDocument } from './parse-policy-document.js';
export { policyRevision } from './policy-revision.js';
export type {
  CallerSelector,
  PolicyMatch,
  PolicyRule,
  PolicySet,
  TargetSelector,
  TimeWindow,
} from './policy-rule.js';
export { analysePolicies } from './analyse-policies.js';
export type { AnalysePoliciesOptions, Finding, FindingKind } from './analyse-policies.js';
export { globMatch } from './glob.js';
