export { FileGuardStore, STATE_FILE } from './file-guard-store.js';
export type { FileGuardStoreOptions } from './file-guard-store.js';
