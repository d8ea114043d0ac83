import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { EXIT } from '../exit-codes.js';
import { algorithmOf, list, openIdentity, seconds } from '../key-options.js';

export class IdentityCreateCommand extends BaseCommand {
  static override paths = [['identity', 'create']];
  static override usage = Command.Usage({
    description: 'Mint an identity token for an agent',
    details: `
      Prints a signed identity token (JWT) carrying the agent id, roles and groups. Pass it as the caller of
      \`check\` (or the SDK) so policies can match on roles and groups and the audit log records an
      authenticated caller.

      The key comes from \`--signing-key env:NAME\` or \`--signing-key file:PATH\`, else from \`signing_key\` in
      agent-safe.yaml, else from $AGENT_SAFE_SIGNING_KEY. A key is never given as a literal value on the command
      line, where other users could read it with \`ps\`.
    `,
    examples: [
      [
        'A deployer token valid for one hour',
        '$0 identity create --agent-id deploy-bot --roles deployer --ttl 3600 --signing-key env:AGENT_SAFE_SIGNING_KEY',
      ],
    ],
  });

  agentId = Option.String('--agent-id', { required: true, description: 'Agent id (the token subject)' });
  agentName = Option.String('--name', { description: 'Human-readable agent name' });
  roles = Option.String('--roles', { description: 'Comma-separated roles' });
  groups = Option.String('--groups', { description: 'Comma-separated groups' });
  ttl = Option.String('--ttl', { description: 'Lifetime in seconds (default 3600, at most 86400)' });
  maxDepth = Option.String('--max-depth', {
    description: 'Most delegation hops allowed below this token (0-10)',
  });
  signingKey = Option.String('--signing-key', { description: 'Key source: env:NAME or file:PATH' });
  algorithm = Option.String('--algorithm', { description: 'HS256 (default), EdDSA or ES256' });
  config = Option.String('--config', { description: 'Project config file (default ./agent-safe.yaml)' });
  jsonOutput = Option.Boolean('--json-output', false, {
    description: 'Print { token, agentId, expiresAt } as JSON',
  });

  async run(): Promise<number> {
    const manager = await openIdentity(this, 'sign');
    const maxDepth = this.maxDepth === undefined ? undefined : Number(this.maxDepth);
    const token = await manager.createToken({
      agentId: this.agentId,
      ...(this.agentName ? { agentName: this.agentName } : {}),
      roles: list(this.roles) ?? [],
      groups: list(this.groups) ?? [],
      ...(this.ttl ? { ttl: seconds(this.ttl, '--ttl') } : {}),
      ...(maxDepth !== undefined ? { maxDelegationDepth: maxDepth } : {}),
    });
    if (this.jsonOutput) {
      const verified = await manager.verify(token);
      this.printJson({
        token,
        agentId: this.agentId,
        expiresAt: verified.ok ? new Date(verified.expiresAt).toISOString() : null,
      });
    } else {
      this.print(token);
    }
    return EXIT.OK;
  }
}

export class IdentityKeygenCommand extends BaseCommand {
  static override paths = [['identity', 'keygen']];
  static override usage = Command.Usage({
    description: 'Generate a signing key (and, for EdDSA/ES256, the public JWKS for verifiers)',
    details: `
      HS256 writes \`signing-key.secret\` (48 random bytes, base64). EdDSA and ES256 write \`signing-key.pem\`
      (PKCS#8 private key), \`public-key.pem\` and \`jwks.json\` (give verifiers and executors only these). Private
      files are created with mode 0600; existing files are never overwritten.
    `,
    examples: [['An Ed25519 key pair in ./keys', '$0 identity keygen --algorithm EdDSA --out keys']],
  });

  algorithm = Option.String('--algorithm', { description: 'HS256 (default), EdDSA or ES256' });
  outDirectory = Option.String('--out', {
    required: true,
    description: 'Directory to write the key files into',
  });
  keyId = Option.String('--key-id', { description: 'Key id (kid) to publish' });

  async run(): Promise<number> {
    const { exportSigningKeyPem, generateKeyPair, loadProjectConfig, AgentSafeError, IdentityManager } =
      await import('@agent-safe/sdk');
    const algorithm = algorithmOf(this.algorithm, loadProjectConfig());
    mkdirSync(this.outDirectory, { recursive: true, mode: 0o700 });
    const write = (name: string, content: string, mode: number) => {
      const path = join(this.outDirectory, name);
      if (existsSync(path))
        throw new AgentSafeError('USAGE', `${path} already exists; choose another --out directory`);
      writeFileSync(path, content, { mode, flag: 'wx' });
      chmodSync(path, mode);
      return path;
    };
    if (algorithm === 'HS256') {
      const { randomBytes } = await import('node:crypto');
      const path = write('signing-key.secret', `${randomBytes(48).toString('base64')}\n`, 0o600);
      this.print(`wrote ${path} (HS256 shared secret: keep it private; verifiers need the same secret)`);
      this.print(
        `use it with: --signing-key file:${path}   or in agent-safe.yaml: signing_key: file:${path}`,
      );
      return EXIT.OK;
    }
    const key = await generateKeyPair({ algorithm, ...(this.keyId ? { keyId: this.keyId } : {}) });
    const pem = await exportSigningKeyPem(key);
    const manager = await IdentityManager.create({ algorithm, signingKey: key });
    const privatePath = write('signing-key.pem', pem.privateKeyPem, 0o600);
    const publicPath = write('public-key.pem', pem.publicKeyPem, 0o644);
    const jwksPath = write('jwks.json', `${JSON.stringify(manager.jwks(), null, 2)}\n`, 0o644);
    this.print(`wrote ${privatePath} (private: only the Agent-Safe service reads it)`);
    this.print(`wrote ${publicPath} and ${jwksPath} (public: give these to verifiers and executors)`);
    this.print(`agent-safe.yaml: signing_key: file:${privatePath}  and  signing_algorithm: ${algorithm}`);
    return EXIT.OK;
  }
}
