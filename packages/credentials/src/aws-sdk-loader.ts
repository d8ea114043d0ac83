import { AgentSafeError, escapeForTerminal } from '@agent-safe/core';

/** The AWS SDK v3 client packages this package may load (optional peers). */
export type AwsClientPackage =
  | '@aws-sdk/client-sts'
  | '@aws-sdk/client-iam'
  | '@aws-sdk/client-secrets-manager';

/**
 * Loads an optional AWS SDK client package on first use (a `check` never pays for it). Throws `USAGE`
 * naming the package to install when it is missing.
 */
export async function loadAwsClient<T>(name: AwsClientPackage): Promise<T> {
  try {
    switch (name) {
      case '@aws-sdk/client-sts':
        return (await import('@aws-sdk/client-sts')) as T;
      case '@aws-sdk/client-iam':
        return (await import('@aws-sdk/client-iam')) as T;
      case '@aws-sdk/client-secrets-manager':
        return (await import('@aws-sdk/client-secrets-manager')) as T;
      default:
        throw new Error('unknown package');
    }
  } catch {
    throw new AgentSafeError(
      'USAGE',
      `The AWS credential provider needs ${name}, which is not installed: run \`npm install ${name}@^3.1178.0\` (or pnpm add) next to @agent-safe/credentials`,
      { details: { package: name } },
    );
  }
}

/** An AWS service error's name and message, escaped and cut to 300 characters. Never holds a credential. */
export function awsErrorReason(error: unknown): string {
  if (error instanceof AgentSafeError) return error.message;
  const name = (error as { name?: unknown })?.name;
  const message = (error as { message?: unknown })?.message;
  const status = (error as { $metadata?: { httpStatusCode?: unknown } })?.$metadata?.httpStatusCode;
  const text = [typeof name === 'string' ? name : 'Error', typeof message === 'string' ? message : '']
    .filter((part) => part !== '')
    .join(': ');
  // An access key id is not a secret on its own, but it never belongs in output either.
  const cut = escapeForTerminal(
    text.slice(0, 300).replace(/\b(?:AKIA|ASIA)[A-Z0-9]{12,}\b/g, '[access key id]'),
  );
  return typeof status === 'number' ? `${cut} (HTTP ${status})` : cut;
}

/** The error's AWS code (`AccessDenied`, `NoSuchEntity`…), or ''. */
export function awsErrorName(error: unknown): string {
  const name = (error as { name?: unknown; Code?: unknown })?.name ?? (error as { Code?: unknown })?.Code;
  return typeof name === 'string' ? name : '';
}
