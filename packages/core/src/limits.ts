/** Longest id (action, target, agent, ticket, correlation) a request may carry. */
export const MAX_ID_LENGTH = 512;
