import { AgentSafeError, escapeForTerminal } from '@agent-safe/core';
import type { KubernetesApiResponse, KubernetesCredentialApi } from './kubernetes-api.js';
import { apiGroupProblem, dns1123LabelProblem, resourceProblem } from './kubernetes-syntax.js';

/** One finding of {@link testKubernetesProvider}. */
export interface ProviderCheck {
  /** What was checked, e.g. `create serviceaccounts/token in agent-safe`. */
  readonly name: string;
  readonly ok: boolean;
  /** False for rights only some actions need (cluster-scoped kinds, revoking after a restart). */
  readonly required: boolean;
  /** The answer, and what to do when it is not ok. Never holds a token. */
  readonly detail: string;
}

/** What {@link testKubernetesProvider} returns: `ok` when every required check passed. */
export interface ProviderTestResult {
  readonly ok: boolean;
  readonly checks: readonly ProviderCheck[];
}

/** Options of {@link testKubernetesProvider}. */
export interface TestKubernetesProviderOptions {
  /**
   * Namespaces the actions act in, where Roles and RoleBindings are created. Default: none named, so
   * those rights are checked in every namespace (a cluster-wide grant).
   */
  readonly targetNamespaces?: readonly string[];
  /**
   * Read rights the runner's identity needs besides the provider's, checked in every namespace and
   * reported as required: pass `PRECHECK_READ_RULES` of `@agent-safe/executor-k8s`, whose prechecks
   * always run as the runner. At most 64 rules.
   */
  readonly readRules?: readonly ReadRule[];
}

/** A read-only RBAC rule to check (the shape of `PRECHECK_READ_RULES`). */
export interface ReadRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

const MAX_READ_RULES = 64;
const READ_VERBS = new Set(['get', 'list', 'watch']);

/** The questions of `readRules`, refusing anything that is not a bounded, read-only rule. */
function readQuestions(rules: readonly ReadRule[] | undefined): Question[] {
  if (rules === undefined) return [];
  if (!Array.isArray(rules) || rules.length > MAX_READ_RULES) {
    throw new AgentSafeError('USAGE', `readRules must be a list of at most ${MAX_READ_RULES} rules`, {
      details: { field: 'readRules' },
    });
  }
  const questions: Question[] = [];
  for (const rule of rules) {
    const lists = [rule?.apiGroups, rule?.resources, rule?.verbs];
    const valid =
      lists.every(
        (list) => Array.isArray(list) && list.length <= 64 && list.every((v) => typeof v === 'string'),
      ) &&
      rule.verbs.every((verb: string) => READ_VERBS.has(verb)) &&
      rule.resources.every((resource: string) => resourceProblem(resource) === undefined) &&
      rule.apiGroups.every((group: string) => group === '' || apiGroupProblem(group) === undefined);
    if (!valid) {
      throw new AgentSafeError(
        'USAGE',
        'each of readRules must be { apiGroups, resources, verbs } with read verbs only (get, list, watch)',
        { details: { field: 'readRules' } },
      );
    }
    for (const group of rule.apiGroups)
      for (const resource of rule.resources)
        for (const verb of rule.verbs)
          questions.push({
            verb,
            group,
            resource,
            namespace: '',
            required: true,
            why: "the Kubernetes executor's prechecks read it with the runner's own identity (PRECHECK_READ_RULES)",
          });
  }
  return questions;
}

const SSAR_PATH = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
const RBAC_GROUP = 'rbac.authorization.k8s.io';

interface Question {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  /** Undefined: cluster-scoped kind; '': every namespace. */
  readonly namespace?: string;
  readonly required: boolean;
  /** Why the right is needed (said when it is missing). */
  readonly why: string;
}

function reason(response: KubernetesApiResponse): string {
  const body = response.body as { message?: unknown } | undefined;
  const message = typeof body?.message === 'string' ? body.message : '';
  return `HTTP ${response.status}${message === '' ? '' : `: ${escapeForTerminal(message.slice(0, 300))}`}`;
}

function where(namespace: string | undefined): string {
  if (namespace === undefined) return 'cluster-wide';
  return namespace === '' ? 'in every namespace' : `in ${namespace}`;
}

/**
 * Checks, without creating anything, that the identity of `api` (the runner's own) can run the
 * Kubernetes credential provider with ServiceAccounts in `namespace` (for `agent-safe credential
 * test-vault`): the namespace exists (read, or — for an identity that may not read namespaces — seen
 * through a dry-run ServiceAccount create, which stores nothing), and SelfSubjectAccessReviews say it may create and delete
 * ServiceAccounts and create their tokens there, create and delete Roles and RoleBindings where the
 * actions act (`targetNamespaces`, default every namespace), and — reported as needed only by actions
 * whose scope names no namespace (node actions, create/delete-namespace) — ClusterRoles and
 * ClusterRoleBindings, and (needed only to revoke after a restart) list Roles and RoleBindings. RBAC
 * also requires the identity to hold every right it grants (or `escalate`/`bind`): no review can check
 * that for all actions at once. Never throws for an answer of the server; only for bad arguments.
 */
export async function testKubernetesProvider(
  api: KubernetesCredentialApi,
  namespace: string,
  options: TestKubernetesProviderOptions = {},
): Promise<ProviderTestResult> {
  if (typeof api?.request !== 'function') {
    throw new AgentSafeError('USAGE', 'testKubernetesProvider needs a KubernetesCredentialApi (request)');
  }
  const problem = typeof namespace === 'string' ? dns1123LabelProblem(namespace) : 'must be a string';
  if (problem !== undefined) {
    throw new AgentSafeError('USAGE', `The credential namespace ${problem}`, {
      details: { field: 'namespace' },
    });
  }
  const targets = options.targetNamespaces ?? [''];
  for (const target of targets) {
    const targetProblem = target === '' ? undefined : dns1123LabelProblem(target);
    if (typeof target !== 'string' || targetProblem !== undefined) {
      throw new AgentSafeError('USAGE', `A target namespace ${targetProblem ?? 'must be a string'}`, {
        details: { field: 'targetNamespaces' },
      });
    }
  }
  const reads = readQuestions(options.readRules);
  const checks: ProviderCheck[] = [await namespaceCheck(api, namespace)];
  const questions: Question[] = [
    ...['create', 'delete'].map((verb) => ({
      verb,
      group: '',
      resource: 'serviceaccounts',
      namespace,
      required: true,
      why: 'each credential is a ServiceAccount of its own',
    })),
    {
      verb: 'create',
      group: '',
      resource: 'serviceaccounts',
      subresource: 'token',
      namespace,
      required: true,
      why: 'tokens are minted with the TokenRequest API',
    },
    ...targets.flatMap((target) =>
      ['roles', 'rolebindings'].flatMap((resource) =>
        ['create', 'delete'].map((verb) => ({
          verb,
          group: RBAC_GROUP,
          resource,
          namespace: target,
          required: true,
          why: 'each credential gets a Role and RoleBinding in the namespaces its action acts in',
        })),
      ),
    ),
    ...['clusterroles', 'clusterrolebindings'].flatMap((resource) =>
      ['create', 'delete'].map((verb) => ({
        verb,
        group: RBAC_GROUP,
        resource,
        required: false,
        why: 'needed only for actions whose scope names no namespace (cordon-node, uncordon-node, drain-node, create-namespace, delete-namespace)',
      })),
    ),
    ...['roles', 'rolebindings'].map((resource) => ({
      verb: 'list',
      group: RBAC_GROUP,
      resource,
      namespace: '',
      required: false,
      why: 'needed only to revoke a credential issued before the runner restarted (found by its label)',
    })),
  ];
  for (const question of [...questions, ...reads]) checks.push(await accessCheck(api, question));
  return { ok: checks.every((check) => check.ok || !check.required), checks };
}

async function namespaceCheck(api: KubernetesCredentialApi, namespace: string): Promise<ProviderCheck> {
  const name = `namespace ${namespace} exists`;
  try {
    const response = await api.request('GET', `/api/v1/namespaces/${namespace}`);
    if (response.status === 200) return { name, ok: true, required: true, detail: 'found' };
    if (response.status === 404) return notFound(name, namespace);
    if (response.status === 403) {
      // A least-privilege runner need not read namespaces: a dry-run ServiceAccount create (nothing is
      // stored) answers 404 when the namespace is missing.
      const probe = await api.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts?dryRun=All`, {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { generateName: 'agent-safe-probe-' },
      });
      if (probe.status >= 200 && probe.status <= 299) {
        return { name, ok: true, required: true, detail: 'found (by a dry-run ServiceAccount create)' };
      }
      if (probe.status === 404) return notFound(name, namespace);
      return {
        name,
        ok: false,
        required: true,
        detail: `could not be read (${reason(response)}) nor probed (${reason(probe)}); grant get on namespaces or check it yourself`,
      };
    }
    return { name, ok: false, required: true, detail: `could not be read (${reason(response)})` };
  } catch (error) {
    return { name, ok: false, required: true, detail: unreachable(error) };
  }
}

function notFound(name: string, namespace: string): ProviderCheck {
  return {
    name,
    ok: false,
    required: true,
    detail: `not found: create it (kubectl create namespace ${namespace}) or pick the namespace the runner's ServiceAccounts go in`,
  };
}

async function accessCheck(api: KubernetesCredentialApi, question: Question): Promise<ProviderCheck> {
  const resource = `${question.resource}${question.subresource === undefined ? '' : `/${question.subresource}`}`;
  const name = `${question.verb} ${resource} ${where(question.namespace)}`;
  const base = { name, required: question.required };
  try {
    const response = await api.request('POST', SSAR_PATH, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: {
        resourceAttributes: {
          verb: question.verb,
          group: question.group,
          resource: question.resource,
          ...(question.subresource === undefined ? {} : { subresource: question.subresource }),
          ...(question.namespace === undefined ? {} : { namespace: question.namespace }),
        },
      },
    });
    const status = (response.body as { status?: { allowed?: unknown; reason?: unknown } } | undefined)
      ?.status;
    if (response.status < 200 || response.status > 299 || typeof status?.allowed !== 'boolean') {
      return { ...base, ok: false, detail: `the access review failed (${reason(response)})` };
    }
    if (status.allowed) return { ...base, ok: true, detail: 'allowed' };
    return { ...base, ok: false, detail: `not allowed: ${question.why}` };
  } catch (error) {
    return { ...base, ok: false, detail: unreachable(error) };
  }
}

function unreachable(error: unknown): string {
  return `the API server could not be asked: ${escapeForTerminal(((error as Error)?.message ?? String(error)).slice(0, 300))}`;
}
