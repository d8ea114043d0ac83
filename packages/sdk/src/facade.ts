// The facade without the identity, ticket and store re-exports of the package index: what a process
// needs to decide and audit checks. The CLI's `check` imports this so its start-up loads nothing else.
export { AgentSafe } from './agent-safe.js';
export type { AgentSafeOptions, EvaluateOptions, IdentityFacade, PlanStep } from './agent-safe.js';
export { FileParseCache, defaultCacheDirectory } from './file-parse-cache.js';
export { DEFAULT_PATHS, PROJECT_CONFIG_FILE, loadProjectConfig } from './project-config.js';
export type { ProjectConfig } from './project-config.js';
export { CLI_STATE_DIRECTORY, cliGuardStore, describeStore, guardStateFinding } from './guards.js';
export type { CliGuardStore } from './guards.js';
export { ExecutionResultMask, maskExecutionResult } from './execution-mask.js';
export type { SensitiveDefinition } from './execution-mask.js';
