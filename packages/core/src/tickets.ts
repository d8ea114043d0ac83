/** A signed, single-use authorisation to execute exactly one allowed request. */
export interface ExecutionTicket {
  /** The signed JWT (typ `agent-safe-ticket+jwt`) an executor validates. */
  readonly token: string;
  /** Single-use nonce (the JWT's `jti`). */
  readonly nonce: string;
  readonly action: string;
  readonly target: string;
  /** Agent id of the caller the ticket was issued to. */
  readonly caller: string;
  /**
   * Agent ids of the caller's verified delegation chain (claim `dch`), so a validator can refuse the
   * tickets of a suspended delegator's delegates. Absent for a direct caller and in older tickets.
   */
  readonly delegationChain?: readonly string[];
  /** SHA-256 (hex) of the RFC 8785 canonical JSON of the validated params. */
  readonly paramsDigest: string;
  /** Audit event of the decision that issued the ticket. */
  readonly auditId: string;
  readonly policyRevision: string;
  readonly issuer: string;
  /** Milliseconds since the epoch. */
  readonly issuedAt: number;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

/**
 * The request an executor is about to run, which the ticket must have been issued for. `action`,
 * `target` and `params` are required: a validator that is not told all three refuses the ticket with
 * `EXPECTATION_MISSING` (naming what is missing), so an omission can never read as "valid". `caller`
 * is checked when given.
 */
export interface TicketExpectations {
  readonly action: string;
  readonly target: string;
  /** The params about to be executed (`{}` for none): their canonical digest must equal the ticket's. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly caller?: string;
}

/** Outcome of validating a ticket. Never thrown: a bad ticket is data. */
export type TicketValidationResult =
  | { readonly valid: true; readonly reason: string; readonly ticket: ExecutionTicket }
  | {
      readonly valid: false;
      readonly reason: string;
      readonly code: TicketFailureCode;
      readonly ticket?: ExecutionTicket;
    };

/** Why a ticket was refused. */
export type TicketFailureCode =
  | 'MALFORMED'
  | 'ALGORITHM'
  | 'SIGNATURE'
  | 'EXPIRED'
  | 'NOT_YET_VALID'
  | 'ISSUER'
  | 'AUDIENCE'
  | 'TYPE'
  | 'ACTION_MISMATCH'
  | 'TARGET_MISMATCH'
  | 'CALLER_MISMATCH'
  | 'PARAMS_MISMATCH'
  | 'EXPECTATION_MISSING'
  | 'REPLAYED'
  | 'NONCE_STORE'
  | 'SUSPENDED'
  | 'AUDIT';

/**
 * Records single-use nonces. `consume` must be atomic: of any number of concurrent calls with the same
 * nonce (in this process, other processes or other replicas sharing the store) exactly one resolves
 * `true`. Entries may be forgotten after `expiresAt` (ms since the epoch), since the ticket is dead then.
 */
export interface NonceStore {
  consume(nonce: string, expiresAt: number): Promise<boolean>;
  close?(): Promise<void>;
}
