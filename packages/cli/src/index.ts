export { COMMANDS, runCli } from './main.js';
export { EXIT } from './exit-codes.js';
export { colourEnabled, styleFor } from './output.js';
export type { Style } from './output.js';
