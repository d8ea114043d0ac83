import { Command, Option } from 'clipanion';
import type { DelegationLink } from '@agent-safe/sdk';
import { BaseCommand } from '../base-command.js';
import { EXIT } from '../exit-codes.js';
import { list, openIdentity, readTokenArgument, seconds } from '../key-options.js';

function chainText(chain: readonly DelegationLink[], leaf: string): string {
  return [...chain.map((link) => `${link.agentId} [${link.roles.join(', ')}]`), leaf].join(' → ');
}

export class DelegationCreateCommand extends BaseCommand {
  static override paths = [['delegation', 'create']];
  static override usage = Command.Usage({
    description: 'Delegate from a parent identity token to a child agent with narrowed scope',
    details: `
      Mints a token for \`--child-id\` whose roles and groups must be subsets of the parent's, which cannot outlive
      the parent, and whose depth is capped (\`--max-depth\`, never above the parent's limit). The child token
      carries the whole chain, verified link by link whenever it is used. Pass \`-\` as the token to read it from
      standard input. Exit codes: 0 created, 1 refused or error.
    `,
    examples: [
      [
        'Delegate deploy rights to a worker',
        '$0 delegation create "$PARENT_TOKEN" --child-id worker-01 --roles deployer --signing-key env:AGENT_SAFE_SIGNING_KEY',
      ],
    ],
  });

  parentToken = Option.String({ name: 'parent-token' });
  childId = Option.String('--child-id', { required: true, description: 'Agent id of the child' });
  roles = Option.String('--roles', { description: "Comma-separated child roles (default: the parent's)" });
  groups = Option.String('--groups', { description: "Comma-separated child groups (default: the parent's)" });
  ttl = Option.String('--ttl', { description: "Lifetime in seconds (default: up to the parent's expiry)" });
  maxDepth = Option.String('--max-depth', { description: 'Most further hops below the child' });
  signingKey = Option.String('--signing-key', { description: 'Key source: env:NAME or file:PATH' });
  algorithm = Option.String('--algorithm', { description: 'HS256 (default), EdDSA or ES256' });
  config = Option.String('--config', { description: 'Project config file (default ./agent-safe.yaml)' });
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print the JSON envelope (docs/cli.md)',
  });

  async run(): Promise<number> {
    const manager = await openIdentity(this, 'sign');
    const parentToken = await readTokenArgument(this.parentToken, 'parent-token', this.context.stdin);
    const result = await manager.delegate({
      parentToken,
      childAgentId: this.childId,
      ...(this.roles !== undefined ? { childRoles: list(this.roles) } : {}),
      ...(this.groups !== undefined ? { childGroups: list(this.groups) } : {}),
      ...(this.ttl ? { ttl: seconds(this.ttl, '--ttl') } : {}),
      ...(this.maxDepth !== undefined ? { maxDepth: Number(this.maxDepth) } : {}),
    });
    if (this.jsonOutput) {
      if (!result.success) {
        return this.printEnvelope(EXIT.ERROR, { code: result.code, reason: result.reason }, [
          {
            code: result.code === 'INPUT_INVALID' ? 'INPUT_INVALID' : 'IDENTITY_INVALID',
            message: `${result.code}: ${result.reason}`,
          },
        ]);
      }
      return this.printEnvelope(EXIT.OK, {
        token: result.token,
        chain: result.chain,
        expiresAt: new Date(result.expiresAt).toISOString(),
        depth: result.depth,
        maxDepth: result.maxDepth,
      });
    }
    if (!result.success) {
      this.context.stderr.write(`${this.err.red('refused')} (${result.code}) ${result.reason}\n`);
      return EXIT.ERROR;
    }
    this.print(result.token);
    this.context.stderr.write(
      `${this.err.dim(`chain: ${chainText(result.chain, this.childId)}; expires ${new Date(result.expiresAt).toISOString()}`)}\n`,
    );
    return EXIT.OK;
  }
}

export class DelegationVerifyCommand extends BaseCommand {
  static override paths = [['delegation', 'verify']];
  static override usage = Command.Usage({
    description: 'Verify an identity or delegation token and show its chain',
    details: `
      Verifies every link of the chain (signature, algorithm, issuer, audience, expiry, scope narrowing, depth).
      Use \`--signing-key\` (HS256 secret or private key) or \`--jwks\` (public keys only). Exit codes: 0 valid,
      1 invalid or error.
    `,
    examples: [
      [
        'Verify with the public JWKS',
        '$0 delegation verify "$CHILD_TOKEN" --algorithm EdDSA --jwks file:keys/jwks.json',
      ],
    ],
  });

  token = Option.String({ name: 'token' });
  signingKey = Option.String('--signing-key', { description: 'Key source: env:NAME or file:PATH' });
  jwks = Option.String('--jwks', { description: 'Public JWKS source: env:NAME or file:PATH' });
  algorithm = Option.String('--algorithm', { description: 'HS256 (default), EdDSA or ES256' });
  config = Option.String('--config', { description: 'Project config file (default ./agent-safe.yaml)' });
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print the JSON envelope (docs/cli.md)',
  });

  async run(): Promise<number> {
    const manager = await openIdentity(this, 'verify');
    const result = await manager.verifyDelegation(
      await readTokenArgument(this.token, 'token', this.context.stdin),
    );
    if (this.jsonOutput) {
      if (!result.ok) {
        return this.printEnvelope(EXIT.ERROR, { code: result.code, reason: result.reason }, [
          { code: 'IDENTITY_INVALID', message: `${result.code}: ${result.reason}`, path: 'token' },
        ]);
      }
      const { ok: _ok, expiresAt, ...verified } = result;
      return this.printEnvelope(EXIT.OK, { ...verified, expiresAt: new Date(expiresAt).toISOString() });
    }
    const style = this.out;
    if (!result.ok) {
      this.print(`${style.red('✗ invalid')} (${result.code}) ${result.reason}`);
      return EXIT.ERROR;
    }
    const caller = result.caller;
    this.print(
      `${style.green('✓ valid')} ${style.bold(caller.agentId)} roles [${caller.roles.join(', ')}] groups [${caller.groups.join(', ')}]`,
    );
    this.print(`  chain    ${chainText(caller.delegationChain, caller.agentId)}`);
    this.print(`  depth    ${caller.delegationChain.length}`);
    this.print(`  expires  ${new Date(result.expiresAt).toISOString()}`);
    return EXIT.OK;
  }
}
