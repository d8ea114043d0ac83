/** An HTTP refusal with its body `{ error: { code, message, path? } }`; code from the AgentSafeError table. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly path?: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  /** The JSON body: never a stack trace. */
  body(): { error: { code: string; message: string; path?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.path ? { path: this.path } : {}) } };
  }
}

/** Status of an AgentSafeError code thrown by the SDK (bad input 400, identity 401, the rest 500). */
export function statusOfCode(code: string): number {
  if (code === 'INPUT_INVALID' || code === 'USAGE' || code === 'PARAMS_INVALID') return 400;
  if (code === 'IDENTITY_INVALID') return 401;
  return 500;
}
