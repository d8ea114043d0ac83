export {
  DEFAULT_AWS_WAIT_SECONDS,
  DEFAULT_STOP_TASK_REASON,
  PLANNED_AWS_ACTIONS,
  awsApiCalls,
  isPlannedAwsAction,
  lambdaEnvironment,
} from './aws-plan.js';
export type { AwsPlanOptions } from './aws-plan.js';
export { credentialResolver } from './credential-resolver.js';
export type { CredentialResolverOptions } from './credential-resolver.js';
export { DryRunExecutor } from './dry-run-executor.js';
export { MASKED_VALUE, captureFromResult, generateRollback } from './generate-rollback.js';
export { maskCapturedState, sensitiveStateFields } from './mask-state.js';
export type { MaskedStateCapture } from './mask-state.js';
export type { RollbackPlan, RollbackResult, StateCapture } from './generate-rollback.js';
export { KUBECTL_ACTIONS, MAX_LOG_TAIL_LINES, kubectlArgs } from './kubectl-args.js';
export type { KubectlGlobalOptions } from './kubectl-args.js';
export { KubectlExecutor, stateFromObject } from './kubectl-executor.js';
export type { KubectlExecutorOptions } from './kubectl-executor.js';
export {
  MAX_LOG_BYTES,
  PLANNED_KUBERNETES_ACTIONS,
  kubernetesApiCalls,
  labelSelector,
} from './kubernetes-plan.js';
export type { KubernetesPlanOptions } from './kubernetes-plan.js';
export { Runner, unverifiedTicketClaims } from './runner.js';
export type {
  CredentialResolver,
  ResolvedCredentials,
  RunOptions,
  RunnerOptions,
  TicketValidatorLike,
} from './runner.js';
export { stateDiff } from './state-diff.js';
