import { open } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { AgentSafeError } from '@agent-safe/core';
import type { KubeConfig } from '@kubernetes/client-node';

/** The `@kubernetes/client-node` module namespace. */
export type KubernetesClientModule = typeof import('@kubernetes/client-node');

const CLIENT_PACKAGE = '@kubernetes/client-node';
const INSTALL_HINT =
  `the Kubernetes executor needs ${CLIENT_PACKAGE} ^1.4: install it next to @agent-safe/executor-k8s ` +
  `(pnpm add ${CLIENT_PACKAGE}@^1.4, or npm install ${CLIENT_PACKAGE}@^1.4)`;

/** Largest kubeconfig file read (real ones are a few KiB; embedded certificates keep them well under this). */
export const KUBECONFIG_MAX_BYTES = 1024 * 1024;

let cached: Promise<KubernetesClientModule> | undefined;

/**
 * Loads `@kubernetes/client-node` on first use (and only then). A missing package is an
 * AgentSafeError (`USAGE`) that names the package to install; any other load failure is `INTERNAL`.
 * `importModule` replaces the dynamic import (for tests); the default load is cached.
 */
export async function loadKubernetesClient(
  options: { importModule?: (specifier: string) => Promise<unknown> } = {},
): Promise<KubernetesClientModule> {
  if (options.importModule) return await importClient(options.importModule);
  cached ??= importClient((specifier) => import(specifier)).catch((error: unknown) => {
    cached = undefined; // a later call may succeed once the package is installed
    throw error;
  });
  return await cached;
}

async function importClient(
  importModule: (specifier: string) => Promise<unknown>,
): Promise<KubernetesClientModule> {
  let loaded: unknown;
  try {
    loaded = await importModule(CLIENT_PACKAGE);
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const message = error instanceof Error ? error.message : String(error);
    if (
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      message.includes(CLIENT_PACKAGE)
    ) {
      throw new AgentSafeError('USAGE', `${CLIENT_PACKAGE} is not installed: ${INSTALL_HINT}`, {
        cause: error,
      });
    }
    throw new AgentSafeError(
      'INTERNAL',
      `${CLIENT_PACKAGE} could not be loaded (${message}); ${INSTALL_HINT}`,
      {
        cause: error,
      },
    );
  }
  const client = loaded as Partial<KubernetesClientModule> | null;
  if (typeof client?.KubeConfig !== 'function' || typeof client.setHeaderOptions !== 'function') {
    throw new AgentSafeError(
      'INTERNAL',
      `${CLIENT_PACKAGE} loaded but is not a 1.x client (no KubeConfig / setHeaderOptions); ${INSTALL_HINT}`,
    );
  }
  return client as KubernetesClientModule;
}

/** Where the Kubernetes executor gets its cluster and credentials from. */
export interface KubeconfigOptions {
  /** Kubeconfig file. Default: `$KUBECONFIG` (a list, merged as kubectl does), then `~/.kube/config`. */
  readonly kubeconfig?: string;
  /** Context to use instead of the file's current-context. */
  readonly context?: string;
  /** Use the pod's ServiceAccount (running inside a cluster) instead of a kubeconfig file. */
  readonly inCluster?: boolean;
}

/**
 * Builds a client-node `KubeConfig` from executor options: an explicit file (must exist), else the
 * `KUBECONFIG` list (missing entries skipped, first current-context wins, like kubectl), else
 * `~/.kube/config`. Each file is read bounded ({@link KUBECONFIG_MAX_BYTES}). The chosen context must
 * exist. Never falls back to in-cluster credentials unless `inCluster` says so.
 */
export async function kubeconfigFromOptions(
  options: KubeconfigOptions = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<KubeConfig> {
  const { kubeconfig, context, inCluster } = options;
  if (kubeconfig !== undefined && !isPathText(kubeconfig)) {
    throw new AgentSafeError(
      'USAGE',
      'kubeconfig must be a non-empty file path (without control characters)',
    );
  }
  if (context !== undefined && !isContextName(context)) {
    throw new AgentSafeError(
      'USAGE',
      'context must be a kubeconfig context name: 1-253 printable characters',
    );
  }
  if (inCluster && kubeconfig !== undefined) {
    throw new AgentSafeError('USAGE', 'give either kubeconfig or inCluster, not both');
  }
  const k8s = await loadKubernetesClient();
  const config = new k8s.KubeConfig();
  if (inCluster) {
    config.loadFromCluster();
    if (context !== undefined) selectContext(config, context, 'the in-cluster configuration');
    return config;
  }

  let files: string[];
  let source: string;
  if (kubeconfig !== undefined) {
    files = [resolve(kubeconfig)];
    source = kubeconfig;
  } else if (env.KUBECONFIG) {
    files = env.KUBECONFIG.split(delimiter)
      .filter((file) => file.length > 0)
      .map((file) => resolve(file));
    source = `KUBECONFIG (${env.KUBECONFIG})`;
  } else {
    files = [join(env.HOME || homedir(), '.kube', 'config')];
    source = files[0] as string;
  }

  let loaded = 0;
  for (const file of files) {
    const text = await readBounded(file, kubeconfig !== undefined);
    if (text === undefined) continue;
    const part = new k8s.KubeConfig();
    try {
      part.loadFromString(text);
    } catch (error) {
      throw new AgentSafeError('CONFIG_INVALID', `${file} is not a valid kubeconfig: ${errorText(error)}`, {
        cause: error,
        issues: [{ file, message: errorText(error) }],
      });
    }
    part.makePathsAbsolute(dirname(file));
    mergeFirstWins(config, part);
    loaded += 1;
  }
  if (loaded === 0) {
    throw new AgentSafeError(
      'FILE_UNREADABLE',
      `no kubeconfig found in ${source}: pass a kubeconfig file, set KUBECONFIG, or use inCluster inside a pod`,
    );
  }
  if (context !== undefined) selectContext(config, context, source);
  else if (!config.getCurrentContext() || !config.getContextObject(config.getCurrentContext())) {
    throw new AgentSafeError(
      'CONFIG_INVALID',
      `${source} has no usable current-context: pick one of ${contextList(config)} with the context option`,
    );
  }
  return config;
}

/** kubectl's merge: the first file that names a cluster, user, context or current-context wins. */
function mergeFirstWins(config: KubeConfig, part: KubeConfig): void {
  for (const cluster of part.getClusters()) if (!config.getCluster(cluster.name)) config.addCluster(cluster);
  for (const user of part.getUsers()) if (!config.getUser(user.name)) config.addUser(user);
  for (const context of part.getContexts())
    if (!config.getContextObject(context.name)) config.addContext(context);
  if (!config.getCurrentContext() && part.getCurrentContext())
    config.setCurrentContext(part.getCurrentContext());
}

function selectContext(config: KubeConfig, context: string, source: string): void {
  if (!config.getContextObject(context)) {
    throw new AgentSafeError(
      'CONFIG_INVALID',
      `context "${context}" is not in ${source}; it has ${contextList(config)}`,
    );
  }
  config.setCurrentContext(context);
}

function contextList(config: KubeConfig): string {
  const names = config.getContexts().map((c) => JSON.stringify(c.name));
  return names.length === 0 ? 'no contexts' : `contexts ${names.slice(0, 20).join(', ')}`;
}

/** Reads at most KUBECONFIG_MAX_BYTES; a missing file is undefined unless `required`. */
async function readBounded(file: string, required: boolean): Promise<string | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (!required && code === 'ENOENT') return undefined;
    throw new AgentSafeError(
      'FILE_UNREADABLE',
      `cannot read kubeconfig ${file}: ${code ?? errorText(error)}`,
      {
        cause: error,
      },
    );
  }
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw new AgentSafeError('FILE_UNREADABLE', `kubeconfig ${file} is not a regular file`);
    const buffer = Buffer.alloc(KUBECONFIG_MAX_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > KUBECONFIG_MAX_BYTES) {
      throw new AgentSafeError(
        'FILE_UNREADABLE',
        `kubeconfig ${file} is larger than ${KUBECONFIG_MAX_BYTES} bytes`,
      );
    }
    return buffer.toString('utf8', 0, length);
  } finally {
    await handle.close();
  }
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function isPathText(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 4096 && !hasControlCharacter(value);
}

function isContextName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 253 && !hasControlCharacter(value);
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]?.slice(0, 300) ?? '';
}
