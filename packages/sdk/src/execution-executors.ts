import { AgentSafeError, type Executor } from '@agent-safe/core';
import { DryRunExecutor, KubectlExecutor } from '@agent-safe/runner';

/**
 * Which executor runs a ticket: an {@link Executor} object, or a name. `dry-run` acts on nothing (it
 * shows the API calls); `kubectl` (alias `subprocess`, the seeds' name) runs kubectl with an argument
 * array; `kubernetes` (alias `k8s`) uses `@agent-safe/executor-k8s`, an optional package loaded only
 * then.
 */
export type ExecutorChoice = Executor | 'dry-run' | 'kubectl' | 'subprocess' | 'kubernetes' | 'k8s';

/** The executor names {@link ExecutorChoice} accepts. */
export const EXECUTOR_NAMES = ['dry-run', 'kubectl', 'subprocess', 'kubernetes', 'k8s'] as const;

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

/** What is read of `@agent-safe/executor-k8s` (typed loosely: the package is an optional peer). */
interface KubernetesExecutorModule {
  readonly KubernetesExecutor?: KubernetesExecutorClass;
}

/**
 * Loads the optional `@agent-safe/executor-k8s` for `purpose` (e.g. "The kubernetes executor"). A
 * missing package (or a missing `@kubernetes/client-node`) is a USAGE error naming the package and the
 * command that installs it, and `hint` when given.
 */
export async function loadKubernetesPackage(
  purpose: string,
  load: () => Promise<unknown> = () => import('@agent-safe/executor-k8s'),
  hint = '',
): Promise<unknown> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const message = String((error as { message?: unknown } | null)?.message);
    if (
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      (message.includes(KUBERNETES_EXECUTOR_PACKAGE) || message.includes('@kubernetes/client-node'))
    ) {
      throw new AgentSafeError(
        'USAGE',
        `${purpose} needs the optional package ${KUBERNETES_EXECUTOR_PACKAGE}, which is not installed: run "${KUBERNETES_EXECUTOR_INSTALL}"${hint}.`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Loads `@agent-safe/executor-k8s` on first use. A missing package is a USAGE error naming the package
 * and the command that installs it.
 */
export async function loadKubernetesExecutor(
  load: () => Promise<unknown> = () => import('@agent-safe/executor-k8s'),
): Promise<KubernetesExecutorClass> {
  const module = (await loadKubernetesPackage(
    'The kubernetes executor',
    load,
    " (or use executor: 'kubectl' or 'dry-run')",
  )) as KubernetesExecutorModule;
  if (typeof module?.KubernetesExecutor !== 'function') {
    throw new AgentSafeError(
      'USAGE',
      `The installed ${KUBERNETES_EXECUTOR_PACKAGE} has no KubernetesExecutor: install a version that matches @agent-safe/sdk ("${KUBERNETES_EXECUTOR_INSTALL}").`,
    );
  }
  return module.KubernetesExecutor;
}

/**
 * The executor for a choice. Throws USAGE for anything else than an Executor object or one of
 * {@link EXECUTOR_NAMES}, and for cluster options that do not fit the choice.
 */
export async function resolveExecutor(
  choice: unknown,
  cluster: ClusterOptions = {},
  load?: () => Promise<unknown>,
): Promise<Executor> {
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
