import { join, resolve } from 'node:path';
import { usageError as usage } from '../cli-error.js';
import { readTokenArgument } from '../key-options.js';
import { MAX_PARAMS_BYTES, readInputFile, readInputStream } from '../read-input.js';

/**
 * Inputs shared by the enforcement commands (`runner`, `credential`, `rollback`, `audit show-state`):
 * the ticket (an argument or `-` for standard input), the params (`--params JSON` or `--params-file
 * PATH|-`), a timeout and audit ids. Every read is bounded; params are never echoed (they may hold
 * secrets).
 */

/** Parses params text: a JSON object; the message names the flag and the fix, never the value. */
export function parseParamsText(text: string, flag: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    throw usage(
      `${flag} is not valid JSON${position === undefined ? '' : ` (at position ${position})`}; pass the params the ticket was issued for, e.g. '{"namespace":"dev","deployment":"app","replicas":3}'`,
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw usage(`${flag} must be a JSON object: the params the ticket was issued for ({} when it has none)`);
  }
  return value as Record<string, unknown>;
}

/**
 * The ticket and its params. Params default to `{}`: a ticket is bound to its params digest, so the
 * runner then refuses it with "pass the params the ticket was issued for" when the action takes some.
 */
export async function readTicketAndParams(
  flags: { token: string; params: string | undefined; paramsFile: string | undefined },
  stdin: NodeJS.ReadableStream,
): Promise<{ ticket: string; params: Record<string, unknown>; paramsGiven: boolean }> {
  if (flags.params !== undefined && flags.paramsFile !== undefined) {
    throw usage('give either --params or --params-file, not both');
  }
  if (flags.token === '-' && flags.paramsFile === '-') {
    throw usage('the ticket and --params-file cannot both be read from standard input; put one in a file');
  }
  let params: Record<string, unknown> = {};
  if (flags.params !== undefined) params = parseParamsText(flags.params, '--params');
  else if (flags.paramsFile !== undefined) {
    const text =
      flags.paramsFile === '-'
        ? await readInputStream(stdin, '--params-file -', MAX_PARAMS_BYTES)
        : await readInputFile(flags.paramsFile, '--params-file', MAX_PARAMS_BYTES);
    params = parseParamsText(text, flags.paramsFile === '-' ? '--params-file -' : '--params-file');
  }
  const ticket = await readTokenArgument(flags.token, 'ticket', stdin);
  if (ticket.split('.').length !== 3 || /\s/.test(ticket)) {
    throw usage(
      'ticket: not an execution ticket (a JWT: three dot-separated parts); pass the exec ticket that `agent-safe check` printed for an ALLOW decision (data.ticket.token with --json-output), or - to read it from standard input',
    );
  }
  return {
    ticket,
    params,
    paramsGiven: flags.params !== undefined || flags.paramsFile !== undefined,
  };
}

/** What to tell a person whose params do not match the ticket's digest (or are missing). */
export function paramsHint(paramsGiven: boolean): string {
  return paramsGiven
    ? 'pass the params the ticket was issued for: exactly the JSON object given to `agent-safe check` (key order does not matter)'
    : 'pass the params the ticket was issued for with --params JSON or --params-file FILE: the same JSON object given to `agent-safe check`';
}

/** Longest run timeout in seconds (setTimeout's limit, about 24.8 days). */
const MAX_TIMEOUT_SECONDS = 2_147_483;

/** `--timeout SECONDS` as milliseconds (a whole number from 1 to about 24.8 days). */
export function timeoutMilliseconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (
    !/^[0-9]{1,7}$/.test(value) ||
    !Number.isInteger(seconds) ||
    seconds < 1 ||
    seconds > MAX_TIMEOUT_SECONDS
  ) {
    throw usage(
      `--timeout must be a whole number of seconds from 1 to ${MAX_TIMEOUT_SECONDS}, got "${value.slice(0, 40)}"`,
    );
  }
  return seconds * 1000;
}

/** An audit event id as the log writes them (`evt-…`): checked before any file is read. */
export function auditIdArgument(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/.test(value)) {
    throw usage(
      'audit id: expected an audit event id such as evt-2f072d63790444ccec187f593752aecd (the "audit id" `check` printed, or an event_id from `agent-safe audit show`)',
    );
  }
  return value;
}

/** The executors `runner execute` accepts; `subprocess` is `kubectl`, `k8s` is `kubernetes`. */
export const EXECUTOR_NAMES = ['dry-run', 'kubectl', 'subprocess', 'kubernetes', 'k8s', 'aws'] as const;
export type ExecutorName = (typeof EXECUTOR_NAMES)[number];

export function executorArgument(value: string | undefined): ExecutorName {
  const name = value ?? 'dry-run';
  if (!(EXECUTOR_NAMES as readonly string[]).includes(name)) {
    throw usage(
      `--executor must be one of ${EXECUTOR_NAMES.join(', ')}, got "${name.slice(0, 40)}" (dry-run acts on nothing; kubectl runs kubectl; kubernetes calls the API; aws calls the AWS APIs)`,
    );
  }
  return name as ExecutorName;
}

/**
 * Where the CLI keeps consumed ticket nonces between runs: the project's `store` when it names one (a
 * file store or Redis), else the CLI's file store beside agent-safe.yaml. Every `agent-safe runner
 * execute` is a new process, so an in-memory store would let a ticket run twice; `store: memory` is
 * therefore not used for nonces here.
 */
export function nonceStoreFor(
  config: { readonly store?: string; readonly file?: string },
  stateDirectory: string,
  cwd: string = process.cwd(),
): string | undefined {
  if (config.store !== undefined && config.store !== 'memory') return undefined;
  const base = config.file === undefined ? cwd : resolve(config.file, '..');
  return `file:${join(base, stateDirectory)}`;
}
