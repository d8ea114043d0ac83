import { AgentSafeError, escapeForTerminal } from '@agent-safe/core';

/**
 * Where the AWS executor (and the STS / Secrets Manager providers) send their calls: a default region
 * for actions whose params name none, and an endpoint override (moto, LocalStack, a VPC endpoint).
 * `agent-safe.yaml`'s `aws:` block, `safe.execute`'s options and the standard AWS environment
 * (`AWS_REGION`, `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`) give them, in this order: options, file,
 * environment. A region a param names always wins over these defaults (the ticket is bound to it).
 */
export interface AwsOptions {
  /** Default region, e.g. `eu-west-1`. */
  readonly region?: string;
  /** Endpoint override: an https:// URL, or http:// on a loopback address (tests, local emulators). */
  readonly endpoint?: string;
}

/** The package the `aws` executor lives in, and the command that installs it. */
export const AWS_EXECUTOR_PACKAGE = '@agent-safe/executor-aws';
export const AWS_EXECUTOR_INSTALL = 'npm install @agent-safe/executor-aws';

/** An AWS region name: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-4` … */
const AWS_REGION = /^[a-z]{2}(-[a-z]+){1,2}-\d{1,2}$/;

/** Hosts an `http://` endpoint may name: this machine only (credentials and calls travel in clear). */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Longest endpoint URL accepted. */
const MAX_ENDPOINT_LENGTH = 2048;

function shown(value: unknown): string {
  return escapeForTerminal(JSON.stringify(String(value)).slice(0, 80));
}

/** Why `value` is not an AWS region name, or undefined when it is one. */
export function awsRegionProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || !AWS_REGION.test(value)) {
    return `expected an AWS region name such as us-east-1 or eu-west-1, got ${typeof value === 'string' ? shown(value) : JSON.stringify(value)}`;
  }
  return undefined;
}

/**
 * Why `value` is not a usable endpoint, or undefined when it is: an absolute `https://` URL, or
 * `http://` on a loopback host (127.0.0.1, [::1], localhost) for moto / LocalStack on this machine; no
 * user name or password in it, no query or fragment. Plain http elsewhere would send signed requests and
 * the answers (secrets among them) in clear.
 */
export function awsEndpointProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '' || value.length > MAX_ENDPOINT_LENGTH) {
    return `expected an https:// URL (or http:// on 127.0.0.1, [::1] or localhost), got ${typeof value === 'string' ? shown(value) : JSON.stringify(value)}`;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `expected an absolute URL such as https://ec2.eu-west-1.amazonaws.com or http://127.0.0.1:5000, got ${shown(value)}`;
  }
  if (url.username !== '' || url.password !== '') {
    return 'the endpoint must not carry a user name or password: AWS requests are signed with the credentials, never sent in the URL';
  }
  if (url.search !== '' || url.hash !== '') {
    return `the endpoint must be a plain base URL without query or fragment, got ${shown(value)}`;
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    if (LOOPBACK_HOSTS.has(url.hostname)) return undefined;
    return `plain http:// is accepted only on this machine (127.0.0.1, [::1], localhost), got host ${shown(url.hostname)}: use https://`;
  }
  return `expected an https:// URL (or http:// on a loopback address), got scheme ${shown(url.protocol)}`;
}

/** The environment variables read, in order of precedence for each setting. */
export const AWS_REGION_VARIABLES = ['AWS_REGION', 'AWS_DEFAULT_REGION'] as const;
export const AWS_ENDPOINT_VARIABLE = 'AWS_ENDPOINT_URL';

/**
 * The region and endpoint a run uses: `options` (from `safe.execute` or CLI flags, each named in errors
 * by `label`), then `config` (agent-safe.yaml's `aws:` block, already checked when the file was
 * read), then the standard AWS environment. Every value is checked; a bad one is a USAGE (options) or
 * CONFIG_INVALID (environment) error naming where it came from and the fix. Unset stays unset: the
 * executor then takes the region from the action's `region` param and the endpoint from AWS.
 */
export function resolveAwsOptions(
  options: AwsOptions,
  config: AwsOptions | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
  label: (key: 'region' | 'endpoint') => string = (key) => `options.${key}`,
): AwsOptions {
  const region = pick(
    'region',
    options.region,
    config?.region,
    AWS_REGION_VARIABLES,
    env,
    label,
    awsRegionProblem,
  );
  const endpoint = pick(
    'endpoint',
    options.endpoint,
    config?.endpoint,
    [AWS_ENDPOINT_VARIABLE],
    env,
    label,
    awsEndpointProblem,
  );
  return {
    ...(region !== undefined ? { region } : {}),
    ...(endpoint !== undefined ? { endpoint: endpoint.replace(/\/+$/, '') } : {}),
  };
}

function pick(
  key: 'region' | 'endpoint',
  option: unknown,
  fromConfig: string | undefined,
  variables: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  label: (key: 'region' | 'endpoint') => string,
  problem: (value: unknown) => string | undefined,
): string | undefined {
  if (option !== undefined) {
    const why = problem(option);
    if (why !== undefined) {
      throw new AgentSafeError('USAGE', `${label(key)}: ${why}`, {
        issues: [{ path: key, message: why }],
      });
    }
    return option as string;
  }
  if (fromConfig !== undefined) return fromConfig;
  for (const variable of variables) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    const why = problem(value);
    if (why !== undefined) {
      throw new AgentSafeError(
        'CONFIG_INVALID',
        `the environment variable ${variable}: ${why}; fix or unset it, or set aws.${key} in agent-safe.yaml`,
        { issues: [{ path: variable, message: why }] },
      );
    }
    return value;
  }
  return undefined;
}
