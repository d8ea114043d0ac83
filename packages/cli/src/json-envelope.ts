import type { Writable } from 'node:stream';

/**
 * The one JSON document every `--json-output` command prints on stdout, on success and on failure
 * (docs/cli.md describes it). Scripts read `ok` (true exactly when `exitCode` is 0), the
 * command-specific `data` (camelCase keys; `null` when the command failed before producing it) and
 * `errors` (`[]` on success, else one entry per problem).
 */
export interface JsonEnvelope<Data = unknown> {
  /** The command path, space-separated: `check`, `audit verify`, `ticket verify` … */
  readonly command: string;
  readonly ok: boolean;
  readonly exitCode: number;
  readonly data: Data | null;
  readonly errors: readonly EnvelopeError[];
}

/** One problem in {@link JsonEnvelope.errors}. */
export interface EnvelopeError {
  /** A code from the AgentSafeError code table (`USAGE`, `CONFIG_INVALID`, `TICKET_INVALID` …). */
  readonly code: string;
  readonly message: string;
  /** The file the problem is in, when there is one. */
  readonly file?: string;
  /** The offending field inside the file or request, e.g. `rules[2].priority`. */
  readonly path?: string;
}

/** What {@link writeEnvelope} needs; `ok` is derived from `exitCode`. */
export interface EnvelopeOptions {
  readonly command: string;
  readonly exitCode: number;
  readonly data?: unknown;
  readonly errors?: readonly EnvelopeError[];
}

/** Builds the envelope value (no output). */
export function envelope(options: EnvelopeOptions): JsonEnvelope {
  return {
    command: options.command,
    ok: options.exitCode === 0,
    exitCode: options.exitCode,
    data: options.data === undefined ? null : options.data,
    errors: options.errors ?? [],
  };
}

/**
 * Writes the envelope as one pretty-printed JSON document and a newline. A payload that cannot be
 * serialised (a cycle, nesting deeper than the stack) still yields a well-formed envelope: `data` becomes
 * `null`, an INTERNAL error says why, and `ok` is false, so a script never sees half a document or an
 * empty stdout.
 */
export function writeEnvelope(stdout: Writable, options: EnvelopeOptions): void {
  let text: string;
  try {
    text = JSON.stringify(envelope(options), null, 2);
  } catch (error) {
    const exitCode = options.exitCode === 0 ? 1 : options.exitCode;
    text = JSON.stringify(
      envelope({
        command: options.command,
        exitCode,
        data: null,
        errors: [
          ...(options.errors ?? []),
          {
            code: 'INTERNAL',
            message: `the result could not be serialised as JSON: ${error instanceof Error ? error.message : String(error)}`,
          },
        ],
      }),
      null,
      2,
    );
  }
  stdout.write(`${escapeTerminalControls(text)}\n`);
}

/**
 * JSON.stringify escapes C0 controls but leaves DEL, the C1 controls (U+0080–U+009F, e.g. the one-byte
 * CSI U+009B) and the line separators raw; escaping them keeps the document identical to a parser and
 * inert on an operator's terminal. They can only occur inside strings, so `\uXXXX` is always valid there.
 */
function escapeTerminalControls(json: string): string {
  return json.replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * Turns a thrown value into {@link EnvelopeError} entries: an AgentSafeError with located issues gives
 * one entry per issue (so each problem is counted once), one without gives one entry; clipanion's usage
 * errors become `USAGE`; anything else is `INTERNAL` with its message (never a stack).
 */
export function errorsFromException(error: unknown): EnvelopeError[] {
  const candidate = error as {
    code?: unknown;
    message?: unknown;
    issues?: unknown;
    name?: unknown;
    clipanion?: unknown;
  } | null;
  const message =
    candidate && typeof candidate === 'object' && typeof candidate.message === 'string'
      ? candidate.message
      : String(error);
  if (isAgentSafeErrorLike(error)) {
    const issues = Array.isArray(error.issues) ? (error.issues as IssueLike[]) : [];
    if (issues.length === 0) return [{ code: error.code, message }];
    // A lone issue the headline already states keeps the headline (it names the input), plus its location.
    if (
      issues.length === 1 &&
      typeof issues[0]!.message === 'string' &&
      message.includes(issues[0]!.message)
    ) {
      return [errorEntry(error.code, { ...issues[0]!, message })];
    }
    return issues.map((issue) => errorEntry(error.code, issue));
  }
  if (
    candidate &&
    typeof candidate === 'object' &&
    (candidate.clipanion !== undefined || candidate.name === 'UsageError')
  ) {
    return [{ code: 'USAGE', message }];
  }
  return [{ code: 'INTERNAL', message }];
}

interface IssueLike {
  readonly message?: unknown;
  readonly file?: unknown;
  readonly path?: unknown;
}

/** One envelope error from a located issue (registry/policy/ticket issues share this shape). */
export function errorEntry(code: string, issue: IssueLike): EnvelopeError {
  return {
    code,
    message: typeof issue.message === 'string' ? issue.message : String(issue.message),
    ...(typeof issue.file === 'string' && issue.file ? { file: issue.file } : {}),
    ...(typeof issue.path === 'string' && issue.path ? { path: issue.path } : {}),
  };
}

/**
 * An AgentSafeError, recognised by shape (`code` plus `describe()`), not by class: the CLI bundle may hold
 * more than one copy of the class, and commands build usage errors of the same shape.
 */
export function isAgentSafeErrorLike(
  error: unknown,
): error is { code: string; message: string; issues?: unknown; describe(): string } {
  const candidate = error as { code?: unknown; describe?: unknown } | null;
  return (
    candidate !== null &&
    typeof candidate === 'object' &&
    typeof candidate.code === 'string' &&
    typeof candidate.describe === 'function'
  );
}
