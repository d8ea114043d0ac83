/**
 * @agent-safe/executor-aws: runs approved actions through the AWS SDK v3 clients.
 *
 * The clients are loaded only when an AWS action runs ({@link loadAwsModule}), so importing this package
 * costs nothing for projects that never touch AWS.
 */
export { MAX_INVOKE_OUTPUT_BYTES, MAX_INVOKE_PAYLOAD_BYTES } from './actions.js';
export { AwsExecutor, type AwsExecutorOptions } from './aws-executor.js';
export { type AwsService, loadAwsModule, MAX_CACHED_CLIENTS } from './clients.js';
export { type AwsCredentialKeys, type AwsCredentialMaterial, awsCredentialKeys } from './credentials.js';
export { AWS_TEXT_MAX, describeAwsError } from './errors.js';
export {
  AWS_PRECHECKS,
  bucketPolicyProblem,
  lambdaEnvironmentProblem,
  MAX_BUCKET_POLICY_BYTES,
  MAX_LAMBDA_ENVIRONMENT_BYTES,
} from './prechecks.js';
export { MAX_POLICY_PAGES } from './state.js';
