/** The closed table of error codes. Each names a class of problem a caller can act on. */
export const ERROR_CODES = {
  CONFIG_INVALID: 'A configuration file does not match its schema',
  YAML_INVALID: 'A file is not well-formed or safe YAML',
  FILE_UNREADABLE: 'A file or directory could not be read',
  FILE_UNWRITABLE: 'A file could not be written',
  MANIFEST_MISMATCH: 'A file does not match the integrity manifest',
  ACTION_UNKNOWN: 'The action is not in the registry',
  TARGET_UNKNOWN: 'The target is not in the inventory',
  PARAMS_INVALID: 'The parameters do not satisfy the action definition',
  TARGET_MISMATCH: 'The parameters name another object than the target the request was decided on',
  INPUT_INVALID: 'A request field is missing or malformed',
  AUDIT_WRITE_FAILED: 'The audit log could not be written',
  AUDIT_LOCK_TIMEOUT: 'The audit log lock could not be taken in time',
  AUDIT_CHAIN_BROKEN: 'The audit log hash chain does not verify',
  IDENTITY_INVALID: 'An identity or delegation token failed verification',
  TICKET_INVALID: 'An execution ticket failed validation',
  KEY_INVALID: 'Key material is missing, malformed or of the wrong kind',
  APPROVAL_REFUSED:
    'An approval or denial was refused (not an approver, self-approval, already voted, expired or already decided)',
  APPROVAL_UNKNOWN: 'No approval request has that id',
  AGENT_SUSPENDED: 'The agent, or an agent in its delegation chain, is suspended (kill switch)',
  USAGE: 'A command or API was called the wrong way',
  INTERNAL: 'An unexpected internal failure (the request failed closed)',
} as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** One located problem, e.g. a schema violation in a file. */
export interface Issue {
  readonly message: string;
  /** File the problem is in, when there is one. */
  readonly file?: string;
  /** Path to the offending field, e.g. `parameters[2].constraints.min_value`. */
  readonly path?: string;
  readonly severity?: 'error' | 'warning';
}

/** Options of {@link AgentSafeError}. */
export interface AgentSafeErrorOptions {
  readonly issues?: readonly Issue[];
  readonly cause?: unknown;
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * The one error type Agent-Safe throws. `code` is from a closed table; `issues` lists every located
 * problem (a directory with three bad files yields three issues, not one).
 */
export class AgentSafeError extends Error {
  readonly code: ErrorCode;
  readonly issues: readonly Issue[];
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: AgentSafeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentSafeError';
    this.code = code;
    this.issues = options.issues ?? [];
    this.details = options.details ?? {};
  }

  /** Message followed by each issue on its own line. */
  describe(): string {
    if (this.issues.length === 0) return this.message;
    return [this.message, ...this.issues.map((issue) => `  - ${formatIssue(issue)}`)].join('\n');
  }
}

/** `file: path: message` with the parts that are present. */
export function formatIssue(issue: Issue): string {
  const where = [issue.file, issue.path].filter(Boolean).join(': ');
  return where ? `${where}: ${issue.message}` : issue.message;
}

/** True for an {@link AgentSafeError}, optionally of one code. */
export function isAgentSafeError(value: unknown, code?: ErrorCode): value is AgentSafeError {
  return value instanceof AgentSafeError && (code === undefined || value.code === code);
}
