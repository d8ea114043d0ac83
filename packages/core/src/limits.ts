/** Longest id (action, target, agent, ticket, correlation) a request may carry. */
export const MAX_ID_LENGTH = 512;

/**
 * Bounds on a request's `params` and `context`, checked before anything else looks at them, so a hostile
 * request can neither stall the process nor produce a decision that cannot be recorded.
 */
export const REQUEST_VALUE_LIMITS = Object.freeze({
  /** Deepest nesting of arrays and objects (the top-level object is depth 1). */
  maxDepth: 32,
  /** Most values (every object, array, string, number, boolean and null, keys excluded). */
  maxValues: 10_000,
  /** Most characters of text, summed over every string and object key. */
  maxTextLength: 256 * 1024,
});
