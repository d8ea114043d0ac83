import type { ExecutionResult } from '@agent-safe/core';

/** What replaces a secret in a masked result (the audit log's marker). */
const MASKED = '***';

/** Secrets shorter than this are only masked where they are a whole value (a substring would over-mask). */
const MIN_SUBSTRING_SECRET = 4;

/** The parts of an action definition that say which params and state fields are secrets. */
export interface SensitiveDefinition {
  readonly parameters: readonly { readonly name: string; readonly sensitive?: boolean }[];
  readonly stateFields: readonly { readonly name: string; readonly sensitive?: boolean }[];
}

/**
 * Masks the values of params and state fields the action marks `sensitive` in an ExecutionResult that
 * leaves the process (the CLI's output, text and JSON; the server's POST /v1/execute answer): the params, the calls'
 * bodies, the executor's output, step details and errors, and the before/after state and diff. The
 * runner's result keeps the real values for programs that build a rollback from it in-process.
 */
export class ExecutionResultMask {
  readonly #params: ReadonlySet<string>;
  readonly #stateFields: ReadonlySet<string>;
  readonly #secrets: string[];

  constructor(definition: SensitiveDefinition | undefined, params: Readonly<Record<string, unknown>>) {
    const sensitiveParams = (definition?.parameters ?? []).filter(
      (parameter) => parameter.sensitive === true,
    );
    this.#params = new Set(sensitiveParams.map((parameter) => parameter.name));
    this.#stateFields = new Set(
      (definition?.stateFields ?? []).filter((field) => field.sensitive === true).map((field) => field.name),
    );
    this.#secrets = [];
    for (const name of this.#params) this.#addSecret(params[name]);
  }

  /** True when the action has nothing sensitive: every method returns its input. */
  get empty(): boolean {
    return this.#params.size === 0 && this.#stateFields.size === 0;
  }

  #addSecret(value: unknown): void {
    if (value === undefined || value === null) return;
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    if (text !== undefined && text !== '' && !this.#secrets.includes(text)) this.#secrets.push(text);
  }

  /** A copy of the params with the sensitive ones masked. */
  params(params: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const copy: Record<string, unknown> = { ...params };
    for (const name of this.#params) if (Object.hasOwn(copy, name)) copy[name] = MASKED;
    return copy;
  }

  /** Any value with every occurrence of a sensitive value replaced (strings, arrays, objects). */
  value<T>(value: T): T {
    if (this.#secrets.length === 0) return value;
    return this.#deep(value) as T;
  }

  #deep(value: unknown): unknown {
    if (typeof value === 'string') {
      let text = value;
      for (const secret of this.#secrets) {
        if (text === secret) return MASKED;
        if (secret.length >= MIN_SUBSTRING_SECRET && text.includes(secret))
          text = text.split(secret).join(MASKED);
      }
      return text;
    }
    if (Array.isArray(value)) return value.map((entry) => this.#deep(entry));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, this.#deep(entry)]));
    }
    return value;
  }

  /** The run's result with every sensitive value masked. */
  result(result: ExecutionResult): ExecutionResult {
    if (this.empty) return result;
    // State values of sensitive fields are secrets too, wherever else they appear (output, details).
    for (const state of [result.beforeState, result.afterState]) {
      for (const name of this.#stateFields)
        if (state && Object.hasOwn(state, name)) this.#addSecret(state[name]);
    }
    const state = (value: Readonly<Record<string, unknown>> | undefined) => {
      if (value === undefined) return undefined;
      const copy: Record<string, unknown> = { ...value };
      for (const name of this.#stateFields) if (Object.hasOwn(copy, name)) copy[name] = MASKED;
      return copy;
    };
    const diff = result.diff === undefined ? undefined : { ...result.diff };
    if (diff !== undefined) {
      for (const name of this.#stateFields) {
        const change = diff[name];
        if (change === undefined) continue;
        diff[name] = {
          before: change.before === undefined ? undefined : MASKED,
          after: change.after === undefined ? undefined : MASKED,
        };
      }
    }
    const masked = this.value({
      ...result,
      ...(result.beforeState !== undefined ? { beforeState: state(result.beforeState) } : {}),
      ...(result.afterState !== undefined ? { afterState: state(result.afterState) } : {}),
      ...(diff !== undefined ? { diff } : {}),
    });
    return masked;
  }
}

/**
 * `result` with the values of the params and state fields its action marks `sensitive` replaced by
 * `***` wherever they appear (see {@link ExecutionResultMask}); `params` are those the run was given.
 */
export function maskExecutionResult(
  definition: SensitiveDefinition | undefined,
  params: Readonly<Record<string, unknown>>,
  result: ExecutionResult,
): ExecutionResult {
  return new ExecutionResultMask(definition, params).result(result);
}
