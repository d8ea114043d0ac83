export { DEFAULT_MAX_BODY_BYTES, createServer, startServer } from './server.js';
export type { AgentSafeServer, RequestLogEntry, ServerOptions, StartServerOptions } from './server.js';
export { openApiDocument } from './openapi.js';
export type { RouteDescription } from './openapi.js';
export { LATENCY_BUCKETS, ServerMetrics } from './metrics.js';
export { validateSchema } from './json-schema.js';
export type { JsonSchema, SchemaProblem } from './json-schema.js';
export * as schemas from './schemas.js';
