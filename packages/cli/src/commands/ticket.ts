import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { EXIT } from '../exit-codes.js';
import { algorithmOf, readTokenArgument, signingKeySource } from '../key-options.js';

export class TicketVerifyCommand extends BaseCommand {
  static override paths = [['ticket', 'verify']];
  static override usage = Command.Usage({
    description: 'Verify a signed execution ticket',
    details: `
      Checks the signature (with the pinned algorithm), type, issuer, expiry (with bounded clock skew) and,
      when given, that the ticket is for \`--action\` and \`--target\`. Use \`--signing-key\` (HS256 secret) or
      \`--jwks\` (public keys of an EdDSA/ES256 issuer: an executor that can verify but not mint).

      Single use: with \`--nonce-store DIR\` the ticket's nonce is consumed in that directory (shared safely by
      every process on this machine), with \`--nonce-store redis://HOST:PORT\` in that Redis (shared by every
      machine using it, e.g. the \`store\` of agent-safe.yaml), so a second verification reports it as
      replayed. Without it nothing is consumed and the ticket stays usable. Pass \`-\` as the token to read it
      from standard input.

      Every outcome, valid or not, is recorded in the audit log (\`--audit-log\`, default agent-safe.yaml's
      \`audit_log\` or ./audit.jsonl; \`--no-audit\` to skip).

      Exit codes: 0 valid, 1 invalid or error.
    `,
    examples: [
      [
        'Check a ticket before running the action (single use on this machine)',
        '$0 ticket verify "$TICKET" --signing-key env:AGENT_SAFE_SIGNING_KEY --action restart-deployment --target dev/test-app --nonce-store /var/lib/agent-safe/nonces',
      ],
      [
        'Single use across machines sharing a Redis',
        '$0 ticket verify "$TICKET" --signing-key env:AGENT_SAFE_SIGNING_KEY --nonce-store redis://127.0.0.1:6379',
      ],
      [
        'Verify with public keys only',
        '$0 ticket verify - --algorithm EdDSA --jwks file:keys/jwks.json --json-output < ticket.jwt',
      ],
    ],
  });

  token = Option.String({ name: 'token' });
  signingKey = Option.String('--signing-key', { description: 'HS256 secret source: env:NAME or file:PATH' });
  jwks = Option.String('--jwks', { description: 'Public JWKS source: env:NAME or file:PATH' });
  algorithm = Option.String('--algorithm', { description: 'HS256 (default), EdDSA or ES256' });
  action = Option.String('--action', { description: 'The action the ticket must be for' });
  target = Option.String('--target', { description: 'The target the ticket must be for' });
  issuer = Option.String('--issuer', { description: 'Expected issuer (default agent-safe)' });
  nonceStore = Option.String('--nonce-store', {
    description: 'Directory or redis:// URL of consumed nonces (enforces single use)',
  });
  auditLog = Option.String('--audit-log', {
    description: 'Audit log to record the outcome in (default ./audit.jsonl)',
  });
  audit = Option.Boolean('--audit', true, { description: 'Record the outcome (--no-audit to skip)' });
  config = Option.String('--config', { description: 'Project config file (default ./agent-safe.yaml)' });
  jsonOutput = Option.Boolean('--json-output', false, { description: 'Print the result as JSON' });

  async run(): Promise<number> {
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
    const token = readTokenArgument(this.token, 'token');
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
    const result = await validator
      .validate(token, {
        ...(this.action ? { action: this.action } : {}),
        ...(this.target ? { target: this.target } : {}),
      })
      .finally(async () => {
        await auditSink?.close();
        await nonceStore?.close();
      });
    if (this.jsonOutput) {
      this.printJson(result);
      return result.valid ? EXIT.OK : EXIT.ERROR;
    }
    const style = this.out;
    if (result.valid) this.print(`${style.green('✓ valid')} ${result.reason}`);
    else this.print(`${style.red('✗ invalid')} (${result.code}) ${result.reason}`);
    const ticket = result.ticket;
    if (ticket) {
      this.print(`  action    ${ticket.action}`);
      this.print(`  target    ${ticket.target}`);
      this.print(`  caller    ${ticket.caller}`);
      this.print(`  audit id  ${ticket.auditId}`);
      this.print(
        `  nonce     ${ticket.nonce}${this.nonceStore ? (result.valid ? ' (consumed)' : '') : style.dim(' (not consumed: no --nonce-store)')}`,
      );
      this.print(`  expires   ${new Date(ticket.expiresAt).toISOString()}`);
    }
    return result.valid ? EXIT.OK : EXIT.ERROR;
  }
}
