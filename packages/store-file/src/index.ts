export { FileGuardStore, STATE_FILE } from './file-guard-store.js';
export type { FileGuardStoreOptions } from './file-guard-store.js';
export { FileApprovalStore } from './file-approval-store.js';
export type { FileApprovalStoreOptions } from './file-approval-store.js';
export { FileSuspensionStore, SUSPENSIONS_FILE } from './file-suspension-store.js';
export type { FileSuspensionStoreOptions } from './file-suspension-store.js';
