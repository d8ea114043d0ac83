import type { Caller } from './caller.js';

/** What an agent asks to do. */
export interface CheckRequest {
  readonly action: string;
  /** Inventory id of the target, e.g. `prod/api-server`. */
  readonly target?: string;
  /** A plain agent id, a resolved Caller, or (when identity is configured) a token. */
  readonly caller?: string | Caller;
  readonly params?: Readonly<Record<string, unknown>>;
  /** External change ticket id to link (JIRA-1234 …). */
  readonly ticketId?: string;
  /** Ties several events together; generated when absent. */
  readonly correlationId?: string;
  /** Free-form context recorded with the audit event. */
  readonly context?: Readonly<Record<string, unknown>>;
}
