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
export type { ShadowDifference, ShadowEventContext, ShadowStats } from './shadow-mode.js';
export type { ShadowOptions } from './shadow-options.js';
export type {
  ServerSettings,
  ServerSlackSettings,
  ServerSlackUser,
  ServerTlsSettings,
} from './server-settings.js';
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
  SLACK_APPROVE_ACTION,
  SLACK_DENY_ACTION,
  SlackNotifier,
  WebhookNotifier,
  resolveApprovalSettings,
  signWebhook,
} from '@agent-safe/approvals';
export type { ApprovalRecord, ApprovalStatus, ApprovalStore } from '@agent-safe/core';
export {
  DEFAULT_SUSPENSION_MAX_STALE_MS,
  DEFAULT_SUSPENSION_REFRESH_MS,
} from './suspensions.js';
export type { AgentsFacade, SuspendOptions, SuspendOutcome, SuspensionsOptions } from './suspensions.js';
export { MemorySuspensionStore } from '@agent-safe/core';
export type { SuspensionRecord, SuspensionSnapshot, SuspensionStore } from '@agent-safe/core';
// Enforcement: execute decisions through the runner, state capture, rollback (docs/enforcement.md#sdk).
export type {
  CredentialsOption,
  ExecuteOptions,
  RollbackCheckOptions,
  RunnerFacadeOptions,
} from './execution-facade.js';
export {
  EXECUTOR_NAMES,
  KUBERNETES_EXECUTOR_INSTALL,
  KUBERNETES_EXECUTOR_PACKAGE,
  loadAwsExecutor,
  loadKubernetesExecutor,
  resolveExecutor,
} from './execution-executors.js';
export type { ClusterOptions, ExecutorChoice } from './execution-executors.js';
export { ExecutionResultMask, maskExecutionResult } from './execution-mask.js';
export type { SensitiveDefinition } from './execution-mask.js';
export type { OperationalStatistics, ShipperLag } from './operational-statistics.js';
export {
  AWS_ENDPOINT_VARIABLE,
  AWS_EXECUTOR_INSTALL,
  AWS_EXECUTOR_PACKAGE,
  AWS_REGION_VARIABLES,
  awsEndpointProblem,
  awsRegionProblem,
  resolveAwsOptions,
} from './execution-aws.js';
export type { AwsOptions } from './execution-aws.js';
export { STATE_CAPTURE_EVENT, findStateCapture, stateCoverage } from './state-capture.js';
export type { ActionStateCoverage, StateCaptureRecord, StateCoverageReport } from './state-capture.js';
export { rollbackPlanFromCapture, rollbackPlanFromLog, rollbackPlanFromResult } from './rollback.js';
export type { RollbackCheck, RollbackExecution, RollbackPlanResult } from './rollback.js';
export {
  DryRunExecutor,
  KubectlExecutor,
  MASKED_VALUE,
  Runner,
  captureFromResult,
  credentialResolver,
  generateRollback,
  kubectlArgs,
  kubernetesApiCalls,
  stateDiff,
  unverifiedTicketClaims,
} from '@agent-safe/runner';
export type {
  CredentialResolver,
  CredentialResolverOptions,
  KubectlExecutorOptions,
  ResolvedCredentials,
  RollbackPlan,
  RollbackResult,
  RunOptions,
  RunnerOptions,
  StateCapture,
  TicketValidatorLike,
} from '@agent-safe/runner';
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
} from '@agent-safe/core';
// Credentials: what `agent-safe credential resolve` / `test-vault` show (names and plans, never secrets).
export {
  EnvVault,
  KubernetesCredentialProvider,
  SecretsManagerVault,
  StsCredentialProvider,
  awsSessionPolicy,
  describeCredentialPlan,
  httpsKubernetesApi,
  testAwsProvider,
  testEnvVault,
  testKubernetesProvider,
  testSecretsManagerVault,
} from '@agent-safe/credentials';
export type {
  AwsPolicyDocument,
  CredentialPlanDescription,
  EnvVaultTestResult,
  KubernetesCredentialApi,
  ProviderCheck,
  ProviderTestResult,
  SecretsManagerVaultOptions,
  StsCredentialProviderOptions,
  TestAwsProviderOptions,
  TestSecretsManagerVaultOptions,
} from '@agent-safe/credentials';
export { kubernetesCredentialApi } from './kubernetes-credential-api.js';
export { kubernetesPrecheckReadRules } from './precheck-read-rules.js';
