export { AgentSafe } from './agent-safe.js';
export type { AgentSafeOptions, EvaluateOptions, IdentityFacade, PlanStep } from './agent-safe.js';
export { Security } from './security.js';
export type { CallerResolution, SecurityOptions } from './security.js';
export { FileParseCache, defaultCacheDirectory } from './file-parse-cache.js';
export { openNonceStore } from './nonce-store.js';
export { CLI_STATE_DIRECTORY, cliGuardStore, describeStore, guardStateFinding } from './guards.js';
export type { CliGuardStore, StoreOption } from './guards.js';
export type { OpenedNonceStore } from './nonce-store.js';
export { MASK, maskParams } from './masking.js';
export { loadPolicyTests, runPolicyTests } from './policy-tests.js';
export type { PolicyTestCase, PolicyTestReport, PolicyTestResult } from './policy-tests.js';
export { DEFAULT_PATHS, PROJECT_CONFIG_FILE, isValidTimeZone, loadProjectConfig } from './project-config.js';
export type { ProjectConfig } from './project-config.js';
export { AgentSafeError, DECISION_RESULTS, RISK_CLASSES, anonymousCaller } from '@agent-safe/core';
export type {
  Caller,
  CheckRequest,
  Decision,
  DecisionResult,
  DelegationLink,
  Explanation,
  RiskClass,
} from '@agent-safe/core';
// Building blocks the CLI and advanced users need, re-exported so they depend on the SDK alone.
export { ActionRegistry, Inventory, generateManifest, parseYaml, writeManifest } from '@agent-safe/registry';
export { PolicyDecisionPoint, analysePolicies, loadPolicies, loadPoliciesSync } from '@agent-safe/pdp';
export type { Finding, PolicyRule, PolicySet } from '@agent-safe/pdp';
export {
  AuditLog,
  checkpointKeyFrom,
  loadCheckpointKey,
  readAuditHead,
  readAuditLog,
  verifyAuditLog,
} from '@agent-safe/audit';
export type { AuditHead, CheckpointKey, VerifyReport } from '@agent-safe/audit';
export type { AuditCheckpointsOptions } from './project-config.js';
export {
  AuditShipping,
  FilesystemShipper,
  S3Shipper,
  WebhookShipper,
  loadS3Module,
  readSecretSource,
  shippingStatus,
  signShipment,
  verifyShipment,
} from '@agent-safe/audit';
export type { ShipperStatus, ShipProgress, ShipRunResult, Shipper, ShippingOptions } from '@agent-safe/audit';
export type { AuditShippersOptions } from './audit-shippers.js';
export { checkAuditShippers } from './audit-shippers.js';
export {
  IdentityManager,
  generateKeyPair,
  exportSigningKeyPem,
  loadKeyMaterial,
  loadSigningKey,
  loadVerificationKeys,
  looksLikeToken,
} from '@agent-safe/identity';
export type { IdentityAlgorithm, IdentityVerificationResult, DelegationResult } from '@agent-safe/identity';
export {
  FileNonceStore,
  InMemoryNonceStore,
  TicketIssuer,
  TicketValidator,
  parseTicketKeyMaterial,
} from '@agent-safe/tickets';
export type { ExecutionTicket, TicketValidationResult } from '@agent-safe/core';
export { ApprovalsFacade } from './approvals-facade.js';
export type { ApprovalVoteOptions, WaitForApprovalOptions } from './approvals-facade.js';
export { DEFAULT_APPROVALS_DIRECTORY } from './approvals-options.js';
export type { ApprovalsOptions } from './approvals-options.js';
export {
  ApprovalService,
  MemoryApprovalStore,
  SlackNotifier,
  WebhookNotifier,
  resolveApprovalSettings,
  signWebhook,
} from '@agent-safe/approvals';
export type { ApprovalRecord, ApprovalStatus, ApprovalStore } from '@agent-safe/core';
