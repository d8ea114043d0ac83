import { AgentSafeError } from '@agent-safe/core';
import type { ReadRule } from '@agent-safe/credentials';
import { KUBERNETES_EXECUTOR_INSTALL, loadKubernetesPackage } from './execution-executors.js';

/**
 * The read rights the Kubernetes executor's prechecks need from the runner's own identity
 * (`PRECHECK_READ_RULES` of `@agent-safe/executor-k8s`, an optional package loaded here), for
 * `testKubernetesProvider(api, namespace, { readRules })`.
 */
export async function kubernetesPrecheckReadRules(
  load?: () => Promise<unknown>,
): Promise<readonly ReadRule[]> {
  const module = (await loadKubernetesPackage('Checking the precheck read rights', load)) as {
    PRECHECK_READ_RULES?: unknown;
  } | null;
  const rules = module?.PRECHECK_READ_RULES;
  if (!Array.isArray(rules)) {
    throw new AgentSafeError(
      'USAGE',
      `The installed @agent-safe/executor-k8s exports no PRECHECK_READ_RULES: install a version that matches @agent-safe/sdk ("${KUBERNETES_EXECUTOR_INSTALL}")`,
    );
  }
  return rules as readonly ReadRule[];
}
