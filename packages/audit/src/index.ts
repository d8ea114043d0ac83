export { AuditLog } from './audit-log.js';
export type { AuditLogOptions, AuditLogStatistics } from './audit-log.js';
export { hashAuditEvent } from './hash-audit-event.js';
export { readAuditLog } from './read-audit-log.js';
export type { ReadAuditLogOptions } from './read-audit-log.js';
export { MAX_REPORTED, verifyAuditLog } from './verify-audit-log.js';
export type { Problem, ProblemKind, VerifyOptions, VerifyReport } from './verify-audit-log.js';
export type { TornLine } from './tail.js';
