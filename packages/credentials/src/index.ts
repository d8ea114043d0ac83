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
export {
  AWS_ACCOUNT_ID,
  AWS_PARTITIONS,
  AWS_REGION,
  IAM_ACTION,
  arnProblem,
  arnValueProblem,
  iamActionProblem,
  parseArn,
} from './aws-syntax.js';
export type { ArnSlot } from './aws-syntax.js';
export { AWS_SESSION_POLICY_MAX_CHARS, awsSessionPolicy } from './aws-session-policy.js';
export type { AwsPolicyDocument, AwsPolicyStatement } from './aws-session-policy.js';
export {
  AWS_MAX_SESSION_SECONDS,
  AWS_MIN_SESSION_SECONDS,
  AWS_REVOKE_POLICY_NAME,
  StsCredentialProvider,
  awsSessionDuration,
  awsSessionName,
  revokePolicyWith,
  revokedUserIds,
} from './sts-credential-provider.js';
export type {
  AwsCredentialMaterial,
  AwsStaticCredentials,
  StsCredentialProviderOptions,
} from './sts-credential-provider.js';
export { SecretsManagerVault, secretIdFor } from './secrets-manager-vault.js';
export type {
  SecretsManagerMaterial,
  SecretsManagerSecrets,
  SecretsManagerVaultOptions,
} from './secrets-manager-vault.js';
export { testAwsProvider, testSecretsManagerVault } from './test-aws-provider.js';
export type { TestAwsProviderOptions, TestSecretsManagerVaultOptions } from './test-aws-provider.js';
