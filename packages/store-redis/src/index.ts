export { MAX_GUARD_WINDOWS, MAX_QUEUED_STEPS, RedisStore } from './redis-store.js';
export type {
  GuardCheckBreaker,
  GuardCheckInput,
  GuardCheckResult,
  GuardCheckWindow,
  RedisStoreOptions,
  RedisStoreTime,
} from './redis-store.js';
export { MAX_RAW_KEY_LENGTH, encodeCallerKey } from './redis-key.js';
export { RedisApprovalStore } from './redis-approval-store.js';
export type { RedisApprovalStoreOptions } from './redis-approval-store.js';
export { RedisSuspensionStore } from './redis-suspension-store.js';
export type { RedisSuspensionStoreOptions } from './redis-suspension-store.js';
