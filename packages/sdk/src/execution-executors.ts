import { AgentSafeError, type Executor } from '@agent-safe/core';
import { DryRunExecutor, KubectlExecutor } from '@agent-safe/runner';
import { AWS_EXECUTOR_INSTALL, AWS_EXECUTOR_PACKAGE, type AwsOptions } from './execution-aws.js';

/**
 * Which executor runs a ticket: an {@link Executor} object, or a name. `dry-run` acts on nothing (it
 * shows the API calls); `kubectl` (alias `subprocess`, the seeds' name) runs kubectl with an argument
 * array; `kubernetes` (alias `k8s`) uses `@agent-safe/executor-k8s` and `aws` uses
 * `@agent-safe/executor-aws`, optional packages loaded only then.
 */
export type ExecutorChoice = Executor | 'dry-run' | 'kubectl' | 'subprocess' | 'kubernetes' | 'k8s' | 'aws';

/** The executor names {@link ExecutorChoice} accepts. */
export const EXECUTOR_NAMES = ['dry-run', 'kubectl', 'subprocess', 'kubernetes', 'k8s', 'aws'] as const;

/** Where kubectl and the Kubernetes executor find the cluster. */
export interface ClusterOptions {
  /** Path of a kubeconfig file; default kubectl's / the client's own lookup. */
  readonly kubeconfig?: string;
  /** Context of the kubeconfig to use. */
  readonly context?: string;
  /** Kubernetes executor only: use the pod's service account (running inside the cluster). */
  readonly inCluster?: boolean;
}

/** The package the `kubernetes` executor lives in, and the command that installs it. */
export const KUBERNETES_EXECUTOR_PACKAGE = '@agent-safe/executor-k8s';
export const KUBERNETES_EXECUTOR_INSTALL = 'npm install @agent-safe/executor-k8s @kubernetes/client-node';

type KubernetesExecutorClass = new (options: ClusterOptions) => Executor;

/** An optional package the SDK loads on first use: its name, what it needs, how to install it. */
export interface OptionalPackage {
  readonly name: string;
  /** Packages it imports whose absence means the same thing (e.g. `@kubernetes/client-node`, `@aws-sdk/`). */
  readonly needs: readonly string[];
  readonly install: string;
}

export const KUBERNETES_EXECUTOR: OptionalPackage = {
  name: KUBERNETES_EXECUTOR_PACKAGE,
  needs: ['@kubernetes/client-node'],
  install: KUBERNETES_EXECUTOR_INSTALL,
};

export const AWS_EXECUTOR: OptionalPackage = {
  name: AWS_EXECUTOR_PACKAGE,
  needs: ['@aws-sdk/'],
  install: AWS_EXECUTOR_INSTALL,
};

/**
 * Loads an optional package (`load` imports it) for `purpose` (e.g. "The kubernetes executor"). A
 * missing package (or a missing package it needs) is a USAGE error naming the package and the command
 * that installs it, and `hint` when given; any other failure is rethrown as it is.
 */
export async function loadOptionalPackage(
  spec: OptionalPackage,
  purpose: string,
  load: () => Promise<unknown>,
  hint = '',
): Promise<unknown> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const message = String((error as { message?: unknown } | null)?.message);
    if (
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      [spec.name, ...spec.needs].some((name) => message.includes(name))
    ) {
      throw new AgentSafeError(
        'USAGE',
        `${purpose} needs the optional package ${spec.name}, which is not installed: run "${spec.install}"${hint}.`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** {@link loadOptionalPackage} for `@agent-safe/executor-k8s`. */
export async function loadKubernetesPackage(
  purpose: string,
  load: () => Promise<unknown> = () => import('@agent-safe/executor-k8s'),
  hint = '',
): Promise<unknown> {
  return loadOptionalPackage(KUBERNETES_EXECUTOR, purpose, load, hint);
}

/** Reads the executor class `exportName` of a loaded optional package; USAGE when it has none. */
function executorClass<T>(module: unknown, spec: OptionalPackage, exportName: string): T {
  const found = (module as Record<string, unknown> | null)?.[exportName];
  if (typeof found !== 'function') {
    throw new AgentSafeError(
      'USAGE',
      `The installed ${spec.name} has no ${exportName}: install a version that matches @agent-safe/sdk ("${spec.install}").`,
    );
  }
  return found as T;
}

/**
 * Loads `@agent-safe/executor-k8s` on first use. A missing package is a USAGE error naming the package
 * and the command that installs it.
 */
export async function loadKubernetesExecutor(
  load: () => Promise<unknown> = () => import('@agent-safe/executor-k8s'),
): Promise<KubernetesExecutorClass> {
  const module = await loadKubernetesPackage(
    'The kubernetes executor',
    load,
    " (or use executor: 'kubectl' or 'dry-run')",
  );
  return executorClass<KubernetesExecutorClass>(module, KUBERNETES_EXECUTOR, 'KubernetesExecutor');
}

/** What `AwsExecutor` of `@agent-safe/executor-aws` is constructed with (typed loosely: optional peer). */
type AwsExecutorClass = new (options: AwsOptions) => Executor;

/**
 * Loads `@agent-safe/executor-aws` (and through it the AWS SDK clients) on first use. A missing package
 * is a USAGE error naming the package and the command that installs it.
 */
export async function loadAwsExecutor(
  load: () => Promise<unknown> = () => import('@agent-safe/executor-aws'),
): Promise<AwsExecutorClass> {
  const module = await loadOptionalPackage(
    AWS_EXECUTOR,
    'The aws executor',
    load,
    " (or use executor: 'dry-run' to see the calls)",
  );
  return executorClass<AwsExecutorClass>(module, AWS_EXECUTOR, 'AwsExecutor');
}

/**
 * The executor for a choice. Throws USAGE for anything else than an Executor object or one of
 * {@link EXECUTOR_NAMES}, and for cluster or AWS options that do not fit the choice. `region` and
 * `endpoint` are passed to the AWS executor as they are (resolve defaults first with
 * `resolveAwsOptions`). `load` imports the optional package of the choice (for tests).
 */
export async function resolveExecutor(
  choice: unknown,
  cluster: ClusterOptions & AwsOptions = {},
  load?: () => Promise<unknown>,
): Promise<Executor> {
  const isAws = choice === 'aws';
  for (const key of ['region', 'endpoint'] as const) {
    if (cluster[key] !== undefined && !isAws) {
      throw new AgentSafeError('USAGE', `options.${key} applies to executor: 'aws' only`, {
        issues: [{ path: key, message: "leave it out, or use executor: 'aws'" }],
      });
    }
  }
  if (isAws) {
    for (const key of ['kubeconfig', 'context', 'inCluster'] as const) {
      if (cluster[key] !== undefined) {
        throw new AgentSafeError(
          'USAGE',
          `options.${key} applies to the Kubernetes executors; executor 'aws' takes region and endpoint`,
          { issues: [{ path: key, message: 'leave it out' }] },
        );
      }
    }
  }
  for (const key of ['kubeconfig', 'context'] as const) {
    const value = cluster[key];
    if (value !== undefined && (typeof value !== 'string' || value === '' || value.includes('\0'))) {
      throw new AgentSafeError('USAGE', `options.${key} must be a non-empty string`, {
        issues: [{ path: key, message: 'expected a path (kubeconfig) or a context name' }],
      });
    }
  }
  if (cluster.inCluster !== undefined && typeof cluster.inCluster !== 'boolean') {
    throw new AgentSafeError('USAGE', 'options.inCluster must be true or false', {
      issues: [{ path: 'inCluster', message: 'expected a boolean' }],
    });
  }
  const choice_ = choice ?? 'dry-run';
  if (typeof choice_ === 'object' && choice_ !== null) {
    const executor = choice_ as Partial<Executor>;
    if (
      typeof executor.execute === 'function' &&
      typeof executor.precheck === 'function' &&
      typeof executor.readState === 'function' &&
      typeof executor.plan === 'function'
    ) {
      return choice_ as Executor;
    }
  }
  switch (choice_) {
    case 'dry-run':
      return new DryRunExecutor();
    case 'kubectl':
    case 'subprocess':
      if (cluster.inCluster === true) {
        throw new AgentSafeError(
          'USAGE',
          'inCluster applies to the kubernetes executor; kubectl finds the in-cluster service account by itself when no kubeconfig is given',
          { issues: [{ path: 'inCluster', message: 'leave it out, or use executor: kubernetes' }] },
        );
      }
      return new KubectlExecutor({
        ...(cluster.kubeconfig !== undefined ? { kubeconfig: cluster.kubeconfig } : {}),
        ...(cluster.context !== undefined ? { context: cluster.context } : {}),
      });
    case 'kubernetes':
    case 'k8s': {
      const KubernetesExecutor = await loadKubernetesExecutor(load);
      return new KubernetesExecutor({
        ...(cluster.kubeconfig !== undefined ? { kubeconfig: cluster.kubeconfig } : {}),
        ...(cluster.context !== undefined ? { context: cluster.context } : {}),
        ...(cluster.inCluster !== undefined ? { inCluster: cluster.inCluster } : {}),
      });
    }
    case 'aws': {
      const AwsExecutor = await loadAwsExecutor(load);
      return new AwsExecutor({
        ...(cluster.region !== undefined ? { region: cluster.region } : {}),
        ...(cluster.endpoint !== undefined ? { endpoint: cluster.endpoint } : {}),
      });
    }
    default:
      throw new AgentSafeError(
        'USAGE',
        `options.executor must be an Executor or one of ${EXECUTOR_NAMES.join(', ')}${typeof choice_ === 'string' && choice_.length <= 64 && /^[\w-]*$/.test(choice_) ? `, got "${choice_}"` : ''}`,
        {
          issues: [
            { path: 'executor', message: `one of ${EXECUTOR_NAMES.join(', ')}, or an Executor object` },
          ],
        },
      );
  }
}
