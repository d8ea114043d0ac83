export {
  DEFAULT_CLOCK_SKEW_SECONDS,
  DEFAULT_TICKET_ISSUER,
  DEFAULT_TICKET_TTL_SECONDS,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_TICKET_LENGTH,
  MAX_TICKET_TTL_SECONDS,
  MIN_HS256_SECRET_BYTES,
  TICKET_ALGORITHMS,
  TICKET_TYPE,
  isTicketAlgorithm,
} from './constants.js';
export type { TicketAlgorithm } from './constants.js';
export { FileNonceStore } from './file-nonce-store.js';
export type { FileNonceStoreOptions } from './file-nonce-store.js';
export { InMemoryNonceStore } from './in-memory-nonce-store.js';
export type { InMemoryNonceStoreOptions } from './in-memory-nonce-store.js';
export { ticketParamsDigest } from './params-digest.js';
export { parseTicketKeyMaterial } from './parse-ticket-key-material.js';
export type { ParseTicketKeyMaterialOptions, TicketKeyMaterial } from './parse-ticket-key-material.js';
export { MAX_TICKET_CHAIN, TicketIssuer } from './ticket-issuer.js';
export type { TicketIssuerOptions, TicketRequest } from './ticket-issuer.js';
export type { TicketJwks, TicketKeyInput } from './ticket-keys.js';
export { TicketValidator } from './ticket-validator.js';
export type { TicketValidatorOptions } from './ticket-validator.js';
