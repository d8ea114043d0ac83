export { EnvVault, testEnvVault } from './env-vault.js';
export type {
  EnvCredentialMaterial,
  EnvVariableStatus,
  EnvVaultOptions,
  EnvVaultTestResult,
} from './env-vault.js';
export { describeCredentialPlan } from './describe-credential-plan.js';
export type {
  CredentialPlanDescription,
  DescribeCredentialPlanOptions,
  DescribedCredentialObject,
} from './describe-credential-plan.js';
export { testKubernetesProvider } from './test-kubernetes-provider.js';
export type {
  ProviderCheck,
  ProviderTestResult,
  ReadRule,
  TestKubernetesProviderOptions,
} from './test-kubernetes-provider.js';
export {
  KUBERNETES_MAX_TOKEN_TTL_SECONDS,
  KUBERNETES_MIN_TOKEN_TTL_SECONDS,
  credentialObjectName,
  kubernetesCredentialPlan,
} from './kubernetes-plan.js';
export type {
  KubernetesCredentialPlan,
  KubernetesCredentialPlanOptions,
  PlannedMetadata,
  PlannedObject,
  PolicyRule,
} from './kubernetes-plan.js';
export {
  DNS1123_LABEL,
  DNS1123_SUBDOMAIN,
  ESCALATING_VERBS,
  KUBERNETES_VERBS,
  NAMELESS_VERBS,
  apiGroupProblem,
  dns1123LabelProblem,
  dns1123SubdomainProblem,
  resourceProblem,
  verbProblem,
} from './kubernetes-syntax.js';
export { MAX_SCOPE_VALUES, renderScope } from './render-scope.js';
export type { ScopedAction } from './render-scope.js';
export { httpsKubernetesApi, kubernetesJsonRequest } from './kubernetes-api.js';
export type {
  HttpsKubernetesApiOptions,
  KubernetesApiResponse,
  KubernetesCredentialApi,
  KubernetesJsonRequest,
} from './kubernetes-api.js';
export { KubernetesCredentialProvider } from './kubernetes-credential-provider.js';
export type {
  KubernetesCredentialMaterial,
  KubernetesCredentialProviderOptions,
} from './kubernetes-credential-provider.js';
