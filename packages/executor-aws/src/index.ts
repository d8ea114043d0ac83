/**
 * @agent-safe/executor-aws: runs approved actions through the AWS SDK v3 clients.
 *
 * The clients are loaded only when an AWS action runs, so importing this package costs nothing for
 * projects that never touch AWS.
 */
export {};
