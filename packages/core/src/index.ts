export { PARAM_TYPES, actionRef } from './action.js';
export type {
  ActionDefinition,
  CredentialScope,
  ParamConstraints,
  ParamType,
  ParameterDefinition,
  Precheck,
  RollbackParamSource,
  StateField,
} from './action.js';
export { AUDIT_GENESIS_HASH, SHADOW_DIFFERENCE_EVENT } from './audit-event.js';
export type {
  AuditChainFields,
  AuditEvent,
  AuditEventBody,
  ShadowDifferenceEventFields,
} from './audit-event.js';
export { canonicalJson } from './canonical-json.js';
export { CREDENTIAL_REDACTED, Credential, isCredentialHandle } from './credentials.js';
export type {
  CredentialOptions,
  CredentialProvider,
  CredentialRequest,
  CredentialVault,
  RenderedCredentialScope,
} from './credentials.js';
export { anonymousCaller } from './caller.js';
export type { Caller, DelegationLink } from './caller.js';
export type { CheckRequest } from './check-request.js';
export { DECISION_RESULTS } from './decision.js';
export type { Decision, DecisionError, DecisionResult, Explanation, RuleTrace } from './decision.js';
export { AgentSafeError, ERROR_CODES, formatIssue, isAgentSafeError } from './errors.js';
export type { AgentSafeErrorOptions, ErrorCode, Issue } from './errors.js';
export { escapeForTerminal, isSafeId, randomId, unsafeIdReason } from './ids.js';
export { ManualClock, systemClock } from './ports.js';
export type { AuditSink, Clock } from './ports.js';
export { RISK_CLASSES, SENSITIVITIES, isRiskClass, isSensitivity, riskRank } from './risk-class.js';
export type { RiskClass, Sensitivity } from './risk-class.js';
export type { TargetDefinition } from './target.js';
export type { ActionLookup, ParamValidationResult, TargetLookup } from './lookups.js';
export { MAX_ID_LENGTH, REQUEST_VALUE_LIMITS } from './limits.js';
export type {
  ApiCall,
  ExecutionContext,
  ExecutionOutcome,
  ExecutionRequest,
  ExecutionResult,
  ExecutionStatus,
  ExecutionStep,
  Executor,
  PrecheckOutcome,
} from './execution.js';
export type {
  ExecutionTicket,
  NonceStore,
  TicketExpectations,
  TicketFailureCode,
  TicketValidationResult,
} from './tickets.js';
export type {
  BreakerAdmission,
  BreakerRecord,
  BreakerSettings,
  BreakerStateName,
  CircuitBreakerStore,
  GuardStepInput,
  GuardStepResult,
  GuardStepStore,
  SlidingWindowStore,
  WindowAdd,
  WindowTake,
} from './guard-stores.js';
export {
  DEFAULT_MAX_STORE_KEYS,
  InMemoryCircuitBreakerStore,
  InMemorySlidingWindowStore,
  MAX_STORE_KEY_LENGTH,
} from './memory-stores.js';
export type {
  CircuitBreakerStoreSync,
  InMemoryStoreOptions,
  SlidingWindowStoreSync,
} from './memory-stores.js';
export { APPROVAL_STATUSES } from './approvals.js';
export type {
  ApprovalListFilter,
  ApprovalRecord,
  ApprovalStatus,
  ApprovalStore,
  ApprovalTicket,
  ApprovalVote,
} from './approvals.js';
export { abortableSleep } from './abortable.js';
export {
  MAX_SUSPENSIONS,
  MAX_SUSPENSION_REASON_LENGTH,
  MemorySuspensionStore,
  checkSuspensionRecord,
  isSuspensionRecord,
} from './suspensions.js';
export type { SuspensionRecord, SuspensionSnapshot, SuspensionStore } from './suspensions.js';
