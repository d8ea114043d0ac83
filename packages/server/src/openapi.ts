import type { JsonSchema } from './json-schema.js';
import { ERROR_RESPONSE } from './schemas.js';

/** What /openapi.json says about one route; the server's route table holds one per route. */
export interface RouteDescription {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly request?: JsonSchema;
  /** A form body (application/x-www-form-urlencoded) the route reads itself, instead of `request`. */
  readonly requestForm?: JsonSchema;
  readonly response: JsonSchema | { readonly text: string };
  /** Error statuses the route may answer besides the common ones (404/405/500). */
  readonly errors?: readonly number[];
  /** OpenAPI parameters (path `{id}`, query strings). */
  readonly parameters?: readonly Record<string, unknown>[];
  /** Whether the bearer identity token applies (see docs/server.md#authentication). */
  readonly authenticated?: boolean;
}

const ERROR_TEXT: Readonly<Record<number, string>> = {
  400: 'Malformed request (bad JSON, a body that breaks its schema, a caller that differs from the token)',
  401: 'No or unusable caller credentials',
  403: 'The verified caller may not do this (APPROVAL_REFUSED)',
  404: 'No such approval request (APPROVAL_UNKNOWN)',
  409: 'The request is no longer open to this vote (expired, decided, already voted)',
  413: 'Body larger than the limit',
  415: 'Content-Type is not application/json',
  500: 'Internal failure (fails closed)',
  503: 'Not ready',
};

/** The OpenAPI 3.1 document of the given routes, built from the same schemas that validate the bodies. */
export function openApiDocument(
  routes: readonly RouteDescription[],
  version: string,
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const responses: Record<string, unknown> = {
      200: {
        description: 'OK',
        content:
          'text' in route.response
            ? { [route.response.text]: { schema: textSchema(route.response.text) } }
            : { 'application/json': { schema: route.response } },
      },
    };
    for (const status of route.errors ?? []) {
      responses[status] = {
        description: ERROR_TEXT[status] ?? 'Error',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    responses[500] = {
      description: ERROR_TEXT[500],
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.parameters ? { parameters: route.parameters } : {}),
      ...(route.authenticated ? { security: [{ bearerIdentity: [] }, {}] } : {}),
      ...(route.request
        ? { requestBody: { required: true, content: { 'application/json': { schema: route.request } } } }
        : route.requestForm
          ? {
              requestBody: {
                required: true,
                content: { 'application/x-www-form-urlencoded': { schema: route.requestForm } },
              },
            }
          : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Agent-Safe decision API',
      version,
      description: 'Decides ALLOW / DENY / REQUIRE_APPROVAL for AI-agent actions (docs/server.md).',
    },
    paths,
    components: {
      schemas: { Error: ERROR_RESPONSE },
      securitySchemes: {
        bearerIdentity: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'An Agent-Safe identity token',
        },
      },
    },
  };
}

/**
 * The schema of a text response. For an event stream OpenAPI 3.1 has `schema` describe one event (3.2's
 * `itemSchema`): its fields as the SSE format names them.
 */
function textSchema(contentType: string): Record<string, unknown> {
  if (contentType !== 'text/event-stream') return { type: 'string' };
  return {
    type: 'object',
    description: 'One server-sent event',
    properties: {
      event: { type: 'string' },
      id: { type: 'string' },
      data: { type: 'string' },
      retry: { type: 'integer', minimum: 0 },
    },
  };
}
