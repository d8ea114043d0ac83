import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { EXIT } from '../exit-codes.js';
import { algorithmOf, readTokenArgument, signingKeySource, usage } from '../key-options.js';
import { MAX_PARAMS_BYTES, readInputFile, readInputStream } from '../read-input.js';

/** Parses `--params` / `--params-file` text: a JSON object, never echoed (params may hold secrets). */
function parseParams(text: string, flag: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    throw usage(
      `${flag} is not valid JSON${position === undefined ? '' : ` (at position ${position})`}; pass the params object of the request, e.g. '{"namespace":"dev"}'`,
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw usage(`${flag} must be a JSON object (the params of the request, {} when it has none)`);
  }
  return value as Record<string, unknown>;
}

export class TicketVerifyCommand extends BaseCommand {
  static override paths = [['ticket', 'verify']];
  static override usage = Command.Usage({
    description: 'Verify a signed execution ticket against the request about to run',
    details: `
      Checks the signature (with the pinned algorithm), type, issuer, expiry (with bounded clock skew) and that
      the ticket was issued for exactly this request: \`--action\`, \`--target\` and the params (\`--params JSON\`
      or \`--params-file PATH\`, \`-\` for standard input; \`{}\` when the action takes none), whose RFC 8785 digest
      must equal the ticket's. All three are required: a ticket is only ever valid for a request. \`--caller\`
      is checked when given. Use \`--signing-key\` (HS256 secret) or \`--jwks\` (public keys of an EdDSA/ES256
      issuer: an executor that can verify but not mint).

      \`--inspect\` instead shows what a ticket claims after checking its signature, issuer and expiry,
      without a request: it prints NOT VERIFIED AGAINST A REQUEST, consumes nothing and exits 1, so it can
      never be mistaken for a valid ticket.

      Single use: with \`--nonce-store DIR\` the ticket's nonce is consumed in that directory (shared safely by
      every process on this machine), with \`--nonce-store redis://HOST:PORT\` in that Redis (shared by every
      machine using it, e.g. the \`store\` of agent-safe.yaml), so a second verification reports it as
      replayed. Without it nothing is consumed and the ticket stays usable. Pass \`-\` as the token to read it
      from standard input.

      Every outcome, valid or not, is recorded in the audit log (\`--audit-log\`, default agent-safe.yaml's
      \`audit_log\` or ./audit.jsonl; \`--no-audit\` to skip).

      Exit codes: 0 valid, 1 invalid, inspected or error.
    `,
    examples: [
      [
        'Check a ticket before running the action (single use on this machine)',
        `$0 ticket verify "$TICKET" --signing-key env:AGENT_SAFE_SIGNING_KEY --action restart-deployment --target dev/test-app --params '{"namespace":"dev","deployment":"test-app"}' --nonce-store /var/lib/agent-safe/nonces`,
      ],
      [
        'Single use across machines sharing a Redis, params from a file',
        '$0 ticket verify "$TICKET" --signing-key env:AGENT_SAFE_SIGNING_KEY --action restart-deployment --target dev/test-app --params-file params.json --nonce-store redis://127.0.0.1:6379',
      ],
      [
        'Verify with public keys only, the ticket on standard input',
        '$0 ticket verify - --algorithm EdDSA --jwks file:keys/jwks.json --action restart-deployment --target dev/test-app --params-file params.json --json-output < ticket.jwt',
      ],
      ['Show what a ticket claims (never valid)', '$0 ticket verify "$TICKET" --inspect'],
    ],
  });

  token = Option.String({ name: 'token' });
  signingKey = Option.String('--signing-key', { description: 'HS256 secret source: env:NAME or file:PATH' });
  jwks = Option.String('--jwks', { description: 'Public JWKS source: env:NAME or file:PATH' });
  algorithm = Option.String('--algorithm', { description: 'HS256 (default), EdDSA or ES256' });
  action = Option.String('--action', { description: 'The action about to run (required)' });
  target = Option.String('--target', { description: 'The target about to be acted on (required)' });
  params = Option.String('--params', { description: 'The params about to be executed, as a JSON object' });
  paramsFile = Option.String('--params-file', {
    description: 'File holding the params JSON object (- for standard input)',
  });
  caller = Option.String('--caller', { description: 'The agent id the ticket must have been issued to' });
  inspect = Option.Boolean('--inspect', false, {
    description: 'Show the claims without checking them against a request (never valid, exit 1)',
  });
  issuer = Option.String('--issuer', { description: 'Expected issuer (default agent-safe)' });
  nonceStore = Option.String('--nonce-store', {
    description: 'Directory or redis:// URL of consumed nonces (enforces single use)',
  });
  auditLog = Option.String('--audit-log', {
    description: 'Audit log to record the outcome in (default ./audit.jsonl)',
  });
  audit = Option.Boolean('--audit', true, { description: 'Record the outcome (--no-audit to skip)' });
  config = Option.String('--config', { description: 'Project config file (default ./agent-safe.yaml)' });
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print the JSON envelope (docs/cli.md): data holds the reason, code and ticket claims',
  });

  /** The request the ticket must be for, or undefined with `--inspect`. Read before any key or store. */
  async #expectations(): Promise<
    { action: string; target: string; params: Record<string, unknown>; caller?: string } | undefined
  > {
    if (this.params !== undefined && this.paramsFile !== undefined) {
      throw usage('give either --params or --params-file, not both');
    }
    if (this.inspect) {
      const conflicting = [
        ['--action', this.action],
        ['--target', this.target],
        ['--params', this.params],
        ['--params-file', this.paramsFile],
        ['--caller', this.caller],
        ['--nonce-store', this.nonceStore],
      ]
        .filter(([, value]) => value !== undefined)
        .map(([flag]) => flag);
      if (conflicting.length > 0) {
        throw usage(
          `--inspect checks no request and consumes nothing; drop ${conflicting.join(', ')}, or drop --inspect to verify the ticket against the request`,
        );
      }
      return undefined;
    }
    const missing = [
      this.action === undefined ? '--action' : undefined,
      this.target === undefined ? '--target' : undefined,
      this.params === undefined && this.paramsFile === undefined ? '--params (or --params-file)' : undefined,
    ].filter((flag) => flag !== undefined);
    if (missing.length > 0) {
      throw usage(
        `ticket verify needs the request about to run: ${missing.join(', ')} missing (a ticket is only valid for the exact action, target and params it was issued for; --params '{}' when there are none). To look at a ticket's claims without a request, use --inspect.`,
      );
    }
    if (this.paramsFile === '-' && this.token === '-') {
      throw usage('the token and --params-file cannot both be read from standard input; put one in a file');
    }
    const params =
      this.params !== undefined
        ? parseParams(this.params, '--params')
        : parseParams(
            this.paramsFile === '-'
              ? await readInputStream(this.context.stdin, '--params-file -', MAX_PARAMS_BYTES)
              : await readInputFile(this.paramsFile!, '--params-file', MAX_PARAMS_BYTES),
            '--params-file',
          );
    return {
      action: this.action!,
      target: this.target!,
      params,
      ...(this.caller !== undefined ? { caller: this.caller } : {}),
    };
  }

  async run(): Promise<number> {
    const expectations = await this.#expectations();
    const { AuditLog, TicketValidator, loadKeyMaterial, loadProjectConfig, openNonceStore } = await import(
      '@agent-safe/sdk'
    );
    const config = loadProjectConfig({ file: this.config });
    const algorithm = algorithmOf(this.algorithm, config);
    const source =
      this.jwks ??
      (this.signingKey ? undefined : config.security?.verificationKeysSource) ??
      signingKeySource(this.signingKey, config);
    const material = await loadKeyMaterial(source);
    const keyOptions =
      material.kind === 'jwks'
        ? { jwks: material.jwks }
        : {
            key:
              material.kind === 'secret'
                ? material.secret
                : material.kind === 'jwk'
                  ? material.jwk
                  : material.pem,
          };
    const token = await readTokenArgument(this.token, 'token', this.context.stdin);
    // A store that cannot be opened (Redis down) still gives an audited outcome: the validator refuses
    // the ticket with NONCE_STORE, because single use cannot be guaranteed.
    const nonceStore = this.nonceStore
      ? await openNonceStore(this.nonceStore).catch((error: unknown) => ({
          consume: () => Promise.reject(error),
          close: async () => undefined,
        }))
      : undefined;
    const auditSink = this.audit
      ? await AuditLog.open(this.auditLog ?? config.auditLog ?? './audit.jsonl').catch(async (error) => {
          await nonceStore?.close();
          throw error;
        })
      : undefined;
    const validator = new TicketValidator({
      algorithm,
      ...keyOptions,
      issuer: this.issuer ?? config.security?.issuer ?? 'agent-safe',
      ...(nonceStore ? { nonceStore } : {}),
      ...(auditSink ? { auditSink } : {}),
    });
    // --inspect: no expectations, so the validator refuses with EXPECTATION_MISSING after checking the
    // signature, issuer and time, and reports the claims; the nonce is never consumed.
    const result = await validator
      .validate(token, expectations ?? ({} as Parameters<typeof validator.validate>[1]))
      .finally(async () => {
        await auditSink?.close();
        await nonceStore?.close();
      });
    const inspected = expectations === undefined && !result.valid && result.code === 'EXPECTATION_MISSING';
    if (this.jsonOutput) {
      // The envelope's `ok` says whether the ticket is valid for this request; the payload has no
      // `valid` of its own (docs/cli.md).
      const { valid: _valid, ...data } = result;
      return this.printEnvelope(
        result.valid ? EXIT.OK : EXIT.ERROR,
        expectations === undefined ? { ...data, inspected: true, verifiedAgainstRequest: false } : data,
        result.valid
          ? []
          : [
              {
                code: 'TICKET_INVALID',
                message: inspected
                  ? 'NOT VERIFIED AGAINST A REQUEST: the claims were shown with --inspect, not compared with any action, target or params'
                  : `${result.code}: ${result.reason}`,
                path: 'ticket',
              },
            ],
      );
    }
    const style = this.out;
    if (result.valid) this.print(`${style.green('✓ valid')} ${result.reason}`);
    else if (inspected) {
      this.print(
        `${style.yellow('! NOT VERIFIED AGAINST A REQUEST')} signature, issuer and expiry check out; the ticket was not compared with any action, target or params (--inspect), so it is not valid for anything here`,
      );
    } else this.print(`${style.red('✗ invalid')} (${result.code}) ${result.reason}`);
    const ticket = result.ticket;
    if (ticket) {
      this.print(`  action    ${ticket.action}`);
      this.print(`  target    ${ticket.target}`);
      this.print(`  caller    ${ticket.caller}`);
      this.print(`  params    sha256:${ticket.paramsDigest}`);
      this.print(`  audit id  ${ticket.auditId}`);
      this.print(
        `  nonce     ${ticket.nonce}${this.nonceStore ? (result.valid ? ' (consumed)' : '') : style.dim(' (not consumed: no --nonce-store)')}`,
      );
      this.print(`  expires   ${new Date(ticket.expiresAt).toISOString()}`);
    }
    return result.valid ? EXIT.OK : EXIT.ERROR;
  }
}
