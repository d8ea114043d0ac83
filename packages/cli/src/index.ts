export { COMMANDS, runCli } from './main.js';
export { EXIT } from './exit-codes.js';
export { colourEnabled, styleFor } from './output.js';
export type { Style } from './output.js';
export {
  envelope,
  errorEntry,
  errorsFromException,
  isAgentSafeErrorLike,
  writeEnvelope,
} from './json-envelope.js';
export type { EnvelopeError, EnvelopeOptions, JsonEnvelope } from './json-envelope.js';
