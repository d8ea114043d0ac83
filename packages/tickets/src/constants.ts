/** The signature algorithms a ticket may be signed with. One is pinned per issuer and validator. */
export type TicketAlgorithm = 'HS256' | 'EdDSA' | 'ES256';

/** Every supported {@link TicketAlgorithm}. */
export const TICKET_ALGORITHMS: readonly TicketAlgorithm[] = ['HS256', 'EdDSA', 'ES256'];

/** JOSE `typ` header of an execution ticket, so other JWTs (agent tokens) are never taken for tickets. */
export const TICKET_TYPE = 'agent-safe-ticket+jwt';

/** Default `iss` of issued tickets and expected `iss` of validated ones. */
export const DEFAULT_TICKET_ISSUER = 'agent-safe';

/** Default ticket lifetime: tickets are meant to be used at once, so minutes, not hours. */
export const DEFAULT_TICKET_TTL_SECONDS = 300;

/** Longest ticket lifetime an issuer mints or a validator accepts. */
export const MAX_TICKET_TTL_SECONDS = 3600;

/** Default tolerance between the issuer's and the validator's clocks. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 30;

/** Largest clock tolerance a validator may be configured with. */
export const MAX_CLOCK_SKEW_SECONDS = 300;

/** Tokens longer than this are refused before any parsing (a ticket is well under 1 KB). */
export const MAX_TICKET_LENGTH = 8192;

/** HS256 secrets shorter than this are refused (RFC 7518 §3.2: at least the hash output size). */
export const MIN_HS256_SECRET_BYTES = 32;

/** True when `value` is a supported {@link TicketAlgorithm}. */
export function isTicketAlgorithm(value: unknown): value is TicketAlgorithm {
  return value === 'HS256' || value === 'EdDSA' || value === 'ES256';
}
