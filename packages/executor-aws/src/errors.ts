import { AgentSafeError, escapeForTerminal } from '@agent-safe/core';

/** Longest piece of AWS text quoted in an error or output. */
export const AWS_TEXT_MAX = 300;

/** Untrusted text (AWS messages, names read back) made printable and cut. */
export function quote(text: unknown, max = AWS_TEXT_MAX): string {
  const flat = escapeForTerminal(typeof text === 'string' ? text : String(text));
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** A failure the executor describes itself (already one safe line). */
export class AwsCallError extends Error {
  override readonly name = 'AwsCallError';
}

const ACCESS_DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnauthorizedAccess',
  'AuthFailure',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'UnrecognizedClientException',
  'InvalidAccessKeyId',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/** The AWS error code of an SDK service exception, if it is one. */
export function awsErrorCode(error: unknown): string | undefined {
  const candidate = error as {
    name?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    Code?: unknown;
  } | null;
  if (candidate === null || typeof candidate !== 'object') return undefined;
  if (typeof candidate.Code === 'string') return candidate.Code;
  if (candidate.$metadata !== undefined && typeof candidate.name === 'string') return candidate.name;
  return undefined;
}

/** The HTTP status of an SDK service exception, if it has one. */
export function awsStatus(error: unknown): number | undefined {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Where a call went, for "cannot reach" messages. */
export interface CallSite {
  readonly service: string;
  readonly region: string;
  readonly endpoint: string | undefined;
}

function networkCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    const name = (current as { name?: unknown }).name;
    if (name === 'TimeoutError' || name === 'RequestTimeout') return 'timed out';
    current = (current as { cause?: unknown }).cause;
  }
  // The SDK wraps a thrown non-Error (e.g. one from another realm) as "AWS SDK error wrapper for Error:
  // connect ECONNREFUSED …": the code is then only in the message.
  const message = (error as { message?: unknown } | null)?.message;
  const match =
    typeof message === 'string' && message.startsWith('AWS SDK error wrapper')
      ? /\b(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE)\b/.exec(
          message,
        )
      : null;
  return match?.[1];
}

/**
 * One line about a failed AWS call: `<Code>: <message>` for an AWS answer (access denied named as such),
 * `cannot reach AWS <service> at <endpoint>: <reason>` when nothing answered, escaped and cut; never a
 * stack trace, a request id or a credential.
 */
export function describeAwsError(error: unknown, site: CallSite): string {
  if (error instanceof AwsCallError || error instanceof AgentSafeError) return error.message;
  const network = networkCode(error);
  const where = site.endpoint ?? `its ${site.region} endpoint`;
  if (network !== undefined) return `cannot reach AWS ${site.service} at ${quote(where, 200)}: ${network}`;
  const name = (error as { name?: unknown } | null)?.name;
  const text = ((error as { message?: unknown } | null)?.message ?? String(error)) as unknown;
  const message = (typeof text === 'string' ? text : String(text)).split('\n')[0]?.trim() ?? '';
  if (name === 'CredentialsProviderError') {
    return `no AWS credentials for ${site.service}: ${quote(message)} (give the executor credentials, or set the standard AWS environment)`;
  }
  const code = awsErrorCode(error);
  if (code !== undefined) {
    const status = awsStatus(error);
    const detail =
      code === 'SyntaxError' || code === 'Error' || code === 'UnknownError'
        ? `HTTP ${status ?? '?'}${message ? `: ${quote(message)}` : ''}`
        : `${quote(code, 100)}${message && message !== code ? `: ${quote(message)}` : ''}`;
    return ACCESS_DENIED.has(code) ? `access denied: ${detail}` : detail;
  }
  return `the AWS ${site.service} call failed: ${quote(message)}`;
}
