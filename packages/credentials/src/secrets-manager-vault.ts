import type { GetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';
import {
  AgentSafeError,
  type Clock,
  Credential,
  type CredentialProvider,
  type CredentialRequest,
  systemClock,
} from '@agent-safe/core';
import { awsErrorName, awsErrorReason, loadAwsClient } from './aws-sdk-loader.js';
import type { AwsStaticCredentials } from './sts-credential-provider.js';

/** Material of a Secrets Manager credential: the secret string, parsed when it is a JSON object. */
export type SecretsManagerMaterial = string | Readonly<Record<string, unknown>>;

/** Which secret each action gets: a map from action name (or `name@version`) to a secret id, or a function. */
export type SecretsManagerSecrets =
  | Readonly<Record<string, string>>
  | ((action: string) => string | undefined);

/** Options of {@link SecretsManagerVault}. */
export interface SecretsManagerVaultOptions {
  readonly region: string;
  /** Endpoint override (tests against moto). */
  readonly endpoint?: string;
  readonly secrets: SecretsManagerSecrets;
  /** The runner's own credentials (default: the SDK's default provider chain). */
  readonly credentials?: AwsStaticCredentials;
  /** The `credentials.type` this vault serves; default `aws`. */
  readonly type?: string;
  readonly clock?: Clock;
}

/** Longest secret accepted (Secrets Manager's own limit is 65 536 bytes). */
const MAX_SECRET_CHARS = 65_536;
const SECRET_ID = /^[\w/+=.@:-]{1,2048}$/;

type SecretsModule = typeof import('@aws-sdk/client-secrets-manager');

/** The secret id configured for `action` (`name@version` first, then `name`), or undefined. */
export function secretIdFor(secrets: SecretsManagerSecrets, action: string): string | undefined {
  if (typeof secrets === 'function') return secrets(action);
  const name = action.split('@')[0]!;
  if (Object.hasOwn(secrets, action)) return secrets[action];
  return Object.hasOwn(secrets, name) ? secrets[name] : undefined;
}

/**
 * Static secrets from AWS Secrets Manager (a database password, an API key): `issue` reads the secret
 * configured for the action (GetSecretValue) and hands it out in a `Credential` handle that expires after
 * the block's ttl; `revoke` forgets the value in this process. Nothing is revoked at AWS: the secret stays
 * valid until it is rotated, so prefer {@link StsCredentialProvider} wherever the backend accepts IAM.
 * The value is never logged, put into an error or a note; the handle's id is the secret's ARN.
 */
export class SecretsManagerVault implements CredentialProvider<SecretsManagerMaterial> {
  readonly type: string;
  readonly #options: SecretsManagerVaultOptions;
  readonly #clock: Clock;
  #client:
    | Promise<{ module: SecretsModule; client: InstanceType<SecretsModule['SecretsManagerClient']> }>
    | undefined;

  constructor(options: SecretsManagerVaultOptions) {
    if (typeof options?.region !== 'string' || options.region === '') {
      throw new AgentSafeError('USAGE', 'SecretsManagerVault: region is required (e.g. us-east-1)', {
        details: { field: 'region' },
      });
    }
    const secrets = options.secrets;
    if (
      typeof secrets !== 'function' &&
      (secrets === null ||
        typeof secrets !== 'object' ||
        Object.values(secrets).some((id) => typeof id !== 'string' || !SECRET_ID.test(id)))
    ) {
      throw new AgentSafeError(
        'USAGE',
        'SecretsManagerVault: secrets must map action names to secret ids (names or ARNs) or be a function',
        { details: { field: 'secrets' } },
      );
    }
    this.#options = options;
    this.type = options.type ?? 'aws';
    this.#clock = options.clock ?? systemClock;
  }

  async #secretsClient() {
    this.#client ??= loadAwsClient<SecretsModule>('@aws-sdk/client-secrets-manager').then((module) => {
      const { region, endpoint, credentials } = this.#options;
      return {
        module,
        client: new module.SecretsManagerClient({
          region,
          ...(endpoint === undefined ? {} : { endpoint }),
          ...(credentials === undefined ? {} : { credentials }),
          maxAttempts: 3,
        }),
      };
    });
    return await this.#client;
  }

  async issue(request: CredentialRequest): Promise<Credential<SecretsManagerMaterial>> {
    const secretId = secretIdFor(this.#options.secrets, request.action);
    if (typeof secretId !== 'string' || !SECRET_ID.test(secretId)) {
      throw new AgentSafeError(
        'CONFIG_INVALID',
        `No Secrets Manager secret is configured for ${request.action}: add it to the vault's secrets`,
        { details: { action: request.action } },
      );
    }
    const { module, client } = await this.#secretsClient();
    const issuedAt = this.#clock.now();
    let output: GetSecretValueCommandOutput;
    try {
      output = await client.send(new module.GetSecretValueCommand({ SecretId: secretId }));
    } catch (error) {
      const missing = awsErrorName(error) === 'ResourceNotFoundException';
      throw new AgentSafeError(
        'INTERNAL',
        `Reading secret ${secretId} for ${request.action} failed (${awsErrorReason(error)})${missing ? '; create it or fix the vault configuration' : ''}`,
        { details: { action: request.action, secret: secretId } },
      );
    }
    const text = output.SecretString;
    if (typeof text !== 'string' || text.length > MAX_SECRET_CHARS) {
      throw new AgentSafeError(
        'INTERNAL',
        `Secret ${secretId} for ${request.action} has no string value of at most ${MAX_SECRET_CHARS} characters (binary secrets are not supported)`,
        { details: { action: request.action, secret: secretId } },
      );
    }
    let material: SecretsManagerMaterial = text;
    if (text.trimStart().startsWith('{')) {
      try {
        const parsed = JSON.parse(text) as unknown;
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
          material = Object.freeze(parsed as Record<string, unknown>);
        }
      } catch {
        // not JSON: handed out as the string it is
      }
    }
    return new Credential<SecretsManagerMaterial>({
      kind: 'aws-secret',
      id: typeof output.ARN === 'string' ? output.ARN : secretId,
      issuedAt,
      expiresAt: issuedAt + Math.max(1, request.ttlSeconds) * 1000,
      material,
      clock: this.#clock,
      notes: ['static secret: revoke only forgets it here, the secret stays valid at AWS until rotated'],
    });
  }

  /** Forgets the value (the handle throws on use). Nothing is revoked at AWS. Idempotent. */
  async revoke(credential: Credential<SecretsManagerMaterial>): Promise<void> {
    credential.invalidate();
  }
}
