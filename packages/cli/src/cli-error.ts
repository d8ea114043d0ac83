/** A located problem of a CLI input (the same shape as the SDK's issues). */
export interface CliIssue {
  readonly message: string;
  readonly file?: string;
  readonly path?: string;
}

/**
 * An error of the command line itself (a bad flag value, an unreadable input), shaped like the SDK's
 * AgentSafeError (`code` from its table, `issues`, `describe()`), so the CLI reports both alike. It
 * exists so that start-up need not load the SDK just to report a bad argument.
 */
export class CliError extends Error {
  readonly code: string;
  readonly issues: readonly CliIssue[];

  constructor(
    code: string,
    message: string,
    options: { issues?: readonly CliIssue[]; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentSafeError';
    this.code = code;
    this.issues = options.issues ?? [];
  }

  /** The message (issues are folded into it by the CLI's own messages). */
  describe(): string {
    return this.message;
  }
}

/** A USAGE error: the command was called the wrong way. */
export function usageError(message: string): CliError {
  return new CliError('USAGE', message);
}
