import { createHash } from 'node:crypto';
import { AgentSafeError } from '@agent-safe/core';
import type { AwsCredentialKeys } from './credentials.js';

/** The AWS services the catalogue actions use. */
export type AwsService = 'ec2' | 'ecs' | 'lambda' | 's3' | 'iam';

/** A loaded SDK v3 client, seen through the little the executor needs. */
export interface AwsClient {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
  destroy(): void;
}

type ClientConstructor = new (config: Record<string, unknown>) => AwsClient;
type CommandConstructor = new (input: unknown) => unknown;
type SdkModule = Record<string, unknown>;

const CLIENT_CLASS: Readonly<Record<AwsService, string>> = {
  ec2: 'EC2Client',
  ecs: 'ECSClient',
  lambda: 'LambdaClient',
  s3: 'S3Client',
  iam: 'IAMClient',
};

const PACKAGE: Readonly<Record<AwsService, string>> = {
  ec2: '@aws-sdk/client-ec2',
  ecs: '@aws-sdk/client-ecs',
  lambda: '@aws-sdk/client-lambda',
  s3: '@aws-sdk/client-s3',
  iam: '@aws-sdk/client-iam',
};

// Literal specifiers, so bundlers see them; each is loaded only when its service is first used.
const LOADERS: Readonly<Record<AwsService, () => Promise<unknown>>> = {
  ec2: () => import('@aws-sdk/client-ec2'),
  ecs: () => import('@aws-sdk/client-ecs'),
  lambda: () => import('@aws-sdk/client-lambda'),
  s3: () => import('@aws-sdk/client-s3'),
  iam: () => import('@aws-sdk/client-iam'),
};

const modules = new Map<AwsService, Promise<SdkModule>>();

/** The SDK module of one service, imported on first use (GUIDE §2); throws saying what to install. */
export function loadAwsModule(service: AwsService): Promise<SdkModule> {
  let pending = modules.get(service);
  if (pending === undefined) {
    pending = LOADERS[service]()
      .then((loaded) => loaded as SdkModule)
      .catch(() => {
        modules.delete(service);
        throw new AgentSafeError(
          'CONFIG_INVALID',
          `the AWS SDK client ${PACKAGE[service]} could not be loaded: install it next to @agent-safe/executor-aws (pnpm add ${PACKAGE[service]})`,
        );
      });
    modules.set(service, pending);
  }
  return pending;
}

/** A command of a loaded module (`StopInstances` → `StopInstancesCommand`) built with `input`. */
export function command(module: SdkModule, service: AwsService, operation: string, input: unknown): unknown {
  const Command = module[`${operation}Command`];
  if (typeof Command !== 'function') {
    throw new AgentSafeError('INTERNAL', `${PACKAGE[service]} has no ${operation}Command`);
  }
  return new (Command as CommandConstructor)(input);
}

/** Settings every client of one executor shares. */
export interface ClientSettings {
  readonly endpoint: string | undefined;
  readonly maxAttempts: number;
  readonly forcePathStyle: boolean;
  /** How long an evicted client stays usable for calls in flight (each call is bounded by this). */
  readonly graceMs: number;
}

/** Most clients kept; the oldest is dropped beyond it (each STS session has its own keys). */
export const MAX_CACHED_CLIENTS = 32;

/**
 * Clients cached per (service, region, endpoint, keys). The key holds a hash of the secret and session
 * token, never the values. `keys` undefined: the SDK's default credential chain (the runner's identity).
 */
export class ClientCache {
  readonly #clients = new Map<string, AwsClient>();
  readonly #evicted = new Set<AwsClient>();
  readonly #settings: ClientSettings;

  constructor(settings: ClientSettings) {
    this.#settings = settings;
  }

  async get(service: AwsService, region: string, keys: AwsCredentialKeys | undefined): Promise<AwsClient> {
    const identity =
      keys === undefined
        ? 'default'
        : `${keys.accessKeyId}:${createHash('sha256')
            .update(`${keys.secretAccessKey}\0${keys.sessionToken ?? ''}`)
            .digest('base64url')}`;
    const cacheKey = `${service}\0${region}\0${this.#settings.endpoint ?? ''}\0${identity}`;
    const cached = this.#clients.get(cacheKey);
    if (cached !== undefined) return cached;
    const module = await loadAwsModule(service);
    const Client = module[CLIENT_CLASS[service]] as ClientConstructor;
    const client = new Client({
      region,
      maxAttempts: this.#settings.maxAttempts,
      ...(this.#settings.endpoint !== undefined ? { endpoint: this.#settings.endpoint } : {}),
      // Static keys only (no provider chain) when keys are given.
      ...(keys !== undefined ? { credentials: { ...keys } } : {}),
      ...(service === 's3' && this.#settings.forcePathStyle ? { forcePathStyle: true } : {}),
    });
    const again = this.#clients.get(cacheKey); // another call built one meanwhile
    if (again !== undefined) {
      client.destroy();
      return again;
    }
    this.#clients.set(cacheKey, client);
    if (this.#clients.size > MAX_CACHED_CLIENTS) {
      const [oldestKey, oldest] = this.#clients.entries().next().value as [string, AwsClient];
      this.#clients.delete(oldestKey);
      // A call in flight on it may still finish (sessions fetch their client per call, so later calls
      // get a new one); its sockets are closed once every call could have ended.
      this.#evicted.add(oldest);
      setTimeout(() => {
        if (this.#evicted.delete(oldest)) oldest.destroy();
      }, this.#settings.graceMs).unref();
    }
    return client;
  }

  /** Destroys every cached client (their sockets); the cache stays usable. */
  clear(): void {
    for (const client of [...this.#clients.values(), ...this.#evicted]) client.destroy();
    this.#clients.clear();
    this.#evicted.clear();
  }
}
