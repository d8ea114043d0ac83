import { closeSync, fchmodSync, lstatSync, mkdirSync, openSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
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
    description: 'Print the JSON envelope (docs/cli.md) with data { token, agentId, expiresAt }',
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
      return this.printEnvelope(EXIT.OK, {
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
      files are created with mode 0600, public ones 0644; existing files are never overwritten (nothing is
      written when any of them exists). \`--out\` is created with mode 0700 when missing, and a directory
      other users can write (without the sticky bit) or that belongs to another user is refused: keys are
      only loaded from such private places too (key files other users can write, or private keys and
      secrets they can read, are refused when loaded).
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
    const directory = resolve(this.outDirectory);
    const refuse = (message: string, file: string, fix: string) =>
      new AgentSafeError('FILE_UNWRITABLE', message, { issues: [{ file, message: fix }] });
    try {
      mkdirSync(directory, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw refuse(
        `--out ${this.outDirectory} could not be created (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        directory,
        'choose a directory this user can create and write',
      );
    }
    const problem = privateDirectoryProblem(directory);
    if (problem !== undefined)
      throw refuse(`--out ${this.outDirectory} ${problem.message}; refused`, directory, problem.fix);
    const names =
      algorithm === 'HS256' ? ['signing-key.secret'] : ['signing-key.pem', 'public-key.pem', 'jwks.json'];
    // All names are checked before anything is written, so a refusal never leaves half a key pair.
    for (const name of names) {
      const path = join(directory, name);
      if (lstatSync(path, { throwIfNoEntry: false }) !== undefined) {
        throw refuse(
          `${path} already exists; keygen never overwrites a key`,
          path,
          'choose another --out directory, or move the old key files away first (rotate deliberately)',
        );
      }
    }
    const write = (name: string, content: string, mode: number) => {
      const path = join(directory, name);
      let descriptor: number;
      try {
        // O_EXCL: never follows or replaces whatever appeared there since the check above.
        descriptor = openSync(path, 'wx', mode);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw refuse(
          code === 'EEXIST'
            ? `${path} already exists; keygen never overwrites a key`
            : `${path} could not be created (${code ?? 'error'})`,
          path,
          code === 'EEXIST' ? 'choose another --out directory' : 'check the directory and its permissions',
        );
      }
      try {
        // The umask may have cleared bits of `mode`, never added any; fchmod makes it exact.
        fchmodSync(descriptor, mode);
        writeFileSync(descriptor, content);
      } finally {
        closeSync(descriptor);
      }
      return join(this.outDirectory, name);
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

/**
 * Why `directory` is no place for a private key, or undefined: writable by group or others without the
 * sticky bit (they could swap the key file), or owned by another user other than root. The same rule
 * the key loader applies to the directory a key file is read from.
 */
function privateDirectoryProblem(directory: string): { message: string; fix: string } | undefined {
  if (process.platform === 'win32') return undefined;
  const stats = statSync(directory);
  if (!stats.isDirectory()) return { message: 'is not a directory', fix: 'point --out at a directory' };
  const mode = (stats.mode & 0o777).toString(8);
  if ((stats.mode & 0o022) !== 0 && (stats.mode & 0o1000) === 0) {
    return {
      message: `is writable by other users (mode ${mode})`,
      fix: `run \`chmod 700 ${directory}\` or choose a directory only you can write (e.g. \`mkdir -m 700 keys\`): anyone who can write there can swap the key file`,
    };
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (uid !== undefined && stats.uid !== uid && stats.uid !== 0) {
    return {
      message: `belongs to another user (uid ${stats.uid})`,
      fix: 'write keys into a directory owned by the user the service runs as',
    };
  }
  return undefined;
}
