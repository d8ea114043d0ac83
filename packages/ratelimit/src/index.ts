export { CircuitBreaker, DEFAULT_BREAKER_WINDOW_SECONDS } from './circuit-breaker.js';
export type { CircuitAdmission, CircuitBreakerOptions } from './circuit-breaker.js';
export {
  DEFAULT_CIRCUIT_BREAKER_COOLDOWN_SECONDS,
  DEFAULT_RATE_LIMIT_WINDOW_SECONDS,
  RateLimitGuard,
} from './rate-limit-guard.js';
export type {
  RateLimitAdmission,
  RateLimitGuardOptions,
  RateLimitRefusalCode,
  RateLimitStepInput,
  RateLimitStepOptions,
  RateLimitToken,
} from './rate-limit-guard.js';
export { RateLimiter } from './rate-limiter.js';
export type { RateLimitCheck, RateLimiterOptions } from './rate-limiter.js';
export { MAX_GUARD_SECONDS } from './validate-options.js';
