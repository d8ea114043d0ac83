import type { ApiCall } from '@agent-safe/core';

const MERGE_PATCH = 'application/merge-patch+json';
const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
const APPLY_PATCH = 'application/apply-patch+yaml';
const JSON_PATCH = 'application/json-patch+json';

/** Most bytes of log the API server returns for get-pod-logs (`limitBytes`). */
export const MAX_LOG_BYTES = 1024 * 1024;

const SELECTOR_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const SELECTOR_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function selectorKey(key: string, selector: string): string {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (
    !SELECTOR_NAME.test(name) ||
    (prefix !== undefined && (prefix.length > 253 || !SELECTOR_PREFIX.test(prefix)))
  ) {
    throw new Error(`pod_selector "${selector}": "${key}" is not a label key`);
  }
  return key;
}

function selectorValue(value: string, selector: string): string {
  if (value !== '' && !SELECTOR_NAME.test(value)) {
    throw new Error(`pod_selector "${selector}": "${value}" is not a label value`);
  }
  return value;
}

/**
 * A kubectl-syntax label selector (`app=web,tier in (a,b),!canary`) as the API's LabelSelector object
 * (`matchLabels` and `matchExpressions`). Throws naming the part it cannot read.
 */
export function labelSelector(value: unknown): {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
} {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Error('pod_selector must be a non-empty label selector such as "app=web"');
  }
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let index = 0; index < value.length; index += 1) {
    const char = value[index];
    if (char === '(') depth += 1;
    else if (char === ')') depth -= 1;
    else if (char === ',' && depth === 0) {
      parts.push(value.slice(start, index));
      start = index + 1;
    }
    if (depth < 0 || depth > 1) throw new Error(`pod_selector "${value}": unbalanced parentheses`);
  }
  if (depth !== 0) throw new Error(`pod_selector "${value}": unbalanced parentheses`);
  parts.push(value.slice(start));
  const matchLabels: Record<string, string> = {};
  const matchExpressions: { key: string; operator: string; values?: string[] }[] = [];
  const TOKEN = '([^\\s=!(),]+)';
  const forms: [RegExp, (match: RegExpMatchArray) => void][] = [
    [
      new RegExp(`^!\\s*${TOKEN}$`),
      (m) => matchExpressions.push({ key: selectorKey(m[1]!, value), operator: 'DoesNotExist' }),
    ],
    [
      new RegExp(`^${TOKEN}\\s+(in|notin)\\s*\\(([^()]*)\\)$`),
      (m) =>
        matchExpressions.push({
          key: selectorKey(m[1]!, value),
          operator: m[2] === 'in' ? 'In' : 'NotIn',
          values: m[3]!.split(',').map((item) => selectorValue(item.trim(), value)),
        }),
    ],
    [
      new RegExp(`^${TOKEN}\\s*!=\\s*([^\\s=!(),]*)$`),
      (m) =>
        matchExpressions.push({
          key: selectorKey(m[1]!, value),
          operator: 'NotIn',
          values: [selectorValue(m[2]!, value)],
        }),
    ],
    [
      new RegExp(`^${TOKEN}\\s*==?\\s*([^\\s=!(),]*)$`),
      (m) => {
        matchLabels[selectorKey(m[1]!, value)] = selectorValue(m[2]!, value);
      },
    ],
    [
      new RegExp(`^${TOKEN}$`),
      (m) => matchExpressions.push({ key: selectorKey(m[1]!, value), operator: 'Exists' }),
    ],
  ];
  for (const raw of parts) {
    const part = raw.trim();
    const form = forms.find(([pattern]) => pattern.test(part));
    if (form === undefined) {
      throw new Error(
        `pod_selector "${value}": cannot read "${part}" (use key=value, key!=value, key in (a,b), key notin (a), key or !key)`,
      );
    }
    form[1](part.match(form[0])!);
  }
  return {
    ...(Object.keys(matchLabels).length > 0 ? { matchLabels } : {}),
    ...(matchExpressions.length > 0 ? { matchExpressions } : {}),
  };
}

/** The catalogue actions {@link kubernetesApiCalls} can plan. */
export const PLANNED_KUBERNETES_ACTIONS = [
  'apply-network-policy',
  'cordon-node',
  'create-namespace',
  'delete-namespace',
  'delete-pod',
  'drain-node',
  'get-configmap',
  'get-pod-logs',
  'get-secret',
  'restart-deployment',
  'rollout-status',
  'rollout-undo',
  'scale-deployment',
  'scale-hpa',
  'uncordon-node',
  'update-configmap',
  'update-hpa-limits',
  'update-image',
] as const;

/** Options of {@link kubernetesApiCalls}. */
export interface KubernetesPlanOptions {
  /** Time stamped into the restart annotation (ISO-8601); default now. */
  readonly now?: () => Date;
}

function text(params: Readonly<Record<string, unknown>>, name: string): string {
  const value = params[name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new Error(`param "${name}" must be a non-empty string`);
  }
  // Path segments: validated names never contain these, and encoding keeps a bad one a single segment.
  return encodeURIComponent(value);
}

function deploymentPath(params: Readonly<Record<string, unknown>>): string {
  return `/apis/apps/v1/namespaces/${text(params, 'namespace')}/deployments/${text(params, 'deployment')}`;
}

/**
 * The Kubernetes API calls a catalogue action makes (method, path, body), as the dry run shows them and
 * as the Kubernetes executor is expected to make them. Throws for an action it does not plan (exec-pod
 * and port-forward need a streaming connection, not a call to show) or a missing param.
 */
export function kubernetesApiCalls(
  action: string,
  params: Readonly<Record<string, unknown>>,
  options: KubernetesPlanOptions = {},
): ApiCall[] {
  const now = options.now ?? (() => new Date());
  switch (action) {
    case 'restart-deployment':
      return [
        {
          method: 'PATCH',
          path: deploymentPath(params),
          contentType: STRATEGIC_MERGE_PATCH,
          body: {
            spec: {
              template: {
                metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': now().toISOString() } },
              },
            },
          },
          description: 'stamp the restart annotation on the pod template',
        },
      ];
    case 'scale-deployment':
      return [
        {
          method: 'PATCH',
          path: `${deploymentPath(params)}/scale`,
          contentType: MERGE_PATCH,
          body: { spec: { replicas: params.replicas } },
          description: `set replicas to ${String(params.replicas)}`,
        },
      ];
    case 'rollout-status':
      return [
        {
          method: 'GET',
          path: deploymentPath(params),
          query: { watch: 'false' },
          description: `poll until the rollout completes or ${String(params.timeout_seconds ?? 60)}s pass`,
        },
      ];
    case 'rollout-undo':
      return [
        {
          method: 'GET',
          path: deploymentPath(params),
          description: 'read the deployment (its uid and current revision)',
        },
        {
          method: 'GET',
          path: `/apis/apps/v1/namespaces/${text(params, 'namespace')}/replicasets`,
          description:
            params.revision === undefined
              ? 'find the ReplicaSet of the previous revision'
              : `find the ReplicaSet of revision ${String(params.revision)}`,
        },
        {
          method: 'PATCH',
          path: deploymentPath(params),
          // A JSON patch replaces the template whole, as kubectl does (a strategic merge would keep
          // containers, env entries or volumes added since that revision).
          contentType: JSON_PATCH,
          body: [
            {
              op: 'replace',
              path: '/spec/template',
              value: '<the ReplicaSet pod template without its pod-template-hash label>',
            },
          ],
          description: "restore that ReplicaSet's pod template (as kubectl rollout undo does)",
        },
      ];
    case 'update-image':
      return [
        {
          method: 'GET',
          path: deploymentPath(params),
          description: `check that container ${String(params.container)} exists (a strategic merge patch would add it)`,
        },
        {
          method: 'PATCH',
          path: deploymentPath(params),
          contentType: STRATEGIC_MERGE_PATCH,
          body: {
            spec: { template: { spec: { containers: [{ name: params.container, image: params.image }] } } },
          },
          description: `set the image of container ${String(params.container)}`,
        },
      ];
    case 'delete-pod':
      return [
        {
          method: 'DELETE',
          path: `/api/v1/namespaces/${text(params, 'namespace')}/pods/${text(params, 'pod')}`,
          body: { gracePeriodSeconds: params.grace_period ?? 30 },
        },
      ];
    case 'get-pod-logs': {
      const query: Record<string, string> = {
        tailLines: String(params.tail_lines ?? 100),
        limitBytes: String(MAX_LOG_BYTES),
      };
      if (typeof params.container === 'string') query.container = params.container;
      if (params.since_seconds !== undefined) query.sinceSeconds = String(params.since_seconds);
      if (params.previous === true) query.previous = 'true';
      return [
        {
          method: 'GET',
          path: `/api/v1/namespaces/${text(params, 'namespace')}/pods/${text(params, 'pod')}/log`,
          query,
        },
      ];
    }
    case 'cordon-node':
    case 'uncordon-node':
      return [
        {
          method: 'PATCH',
          path: `/api/v1/nodes/${text(params, 'node')}`,
          contentType: MERGE_PATCH,
          body: { spec: { unschedulable: action === 'cordon-node' } },
        },
      ];
    case 'drain-node':
      return [
        {
          method: 'PATCH',
          path: `/api/v1/nodes/${text(params, 'node')}`,
          contentType: MERGE_PATCH,
          body: { spec: { unschedulable: true } },
          description: 'cordon',
        },
        {
          method: 'GET',
          path: '/api/v1/pods',
          query: { fieldSelector: `spec.nodeName=${String(params.node)}` },
          description: 'list the pods on the node',
        },
        {
          method: 'POST',
          path: '/api/v1/namespaces/{pod namespace}/pods/{pod}/eviction',
          body: { apiVersion: 'policy/v1', kind: 'Eviction' },
          description: `for each pod not owned by a DaemonSet; 429 (PodDisruptionBudget) retried until ${String(params.timeout_seconds ?? 300)}s`,
        },
      ];
    case 'create-namespace':
      return [
        {
          method: 'POST',
          path: '/api/v1/namespaces',
          body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: params.namespace } },
        },
      ];
    case 'delete-namespace':
      return [{ method: 'DELETE', path: `/api/v1/namespaces/${text(params, 'namespace')}` }];
    case 'get-configmap':
      return [
        {
          method: 'GET',
          path: `/api/v1/namespaces/${text(params, 'namespace')}/configmaps/${text(params, 'configmap')}`,
        },
      ];
    case 'update-configmap':
      return [
        {
          method: 'PATCH',
          path: `/api/v1/namespaces/${text(params, 'namespace')}/configmaps/${text(params, 'configmap')}`,
          contentType: MERGE_PATCH,
          body: { data: { [String(params.key)]: params.value } },
        },
      ];
    case 'get-secret':
      return [
        {
          method: 'GET',
          path: `/api/v1/namespaces/${text(params, 'namespace')}/secrets/${text(params, 'secret')}`,
          description: 'the value is returned to the caller and never written to the audit log',
        },
      ];
    case 'scale-hpa': {
      const spec: Record<string, unknown> = {};
      if (params.min_replicas !== undefined) spec.minReplicas = params.min_replicas;
      if (params.max_replicas !== undefined) spec.maxReplicas = params.max_replicas;
      return [
        {
          method: 'PATCH',
          path: `/apis/autoscaling/v2/namespaces/${text(params, 'namespace')}/horizontalpodautoscalers/${text(params, 'hpa')}`,
          contentType: MERGE_PATCH,
          body: { spec },
        },
      ];
    }
    case 'update-hpa-limits':
      return [
        {
          method: 'GET',
          path: `/apis/autoscaling/v2/namespaces/${text(params, 'namespace')}/horizontalpodautoscalers/${text(params, 'hpa')}`,
          description: 'read the metrics list',
        },
        {
          method: 'PUT',
          path: `/apis/autoscaling/v2/namespaces/${text(params, 'namespace')}/horizontalpodautoscalers/${text(params, 'hpa')}`,
          body: {
            spec: {
              metrics: '<with cpu/memory averageUtilization replaced>',
              targetCpuPercent: params.target_cpu_percent,
              targetMemoryPercent: params.target_memory_percent,
            },
          },
          description: 'replace the utilisation targets (optimistic concurrency on resourceVersion)',
        },
      ];
    case 'apply-network-policy':
      return [
        {
          method: 'PATCH',
          path: `/apis/networking.k8s.io/v1/namespaces/${text(params, 'namespace')}/networkpolicies/${text(params, 'policy_name')}`,
          contentType: APPLY_PATCH,
          query: { fieldManager: 'agent-safe', force: 'true' },
          body: {
            apiVersion: 'networking.k8s.io/v1',
            kind: 'NetworkPolicy',
            metadata: { name: params.policy_name, namespace: params.namespace },
            spec: {
              podSelector: labelSelector(params.pod_selector),
              policyTypes: String(params.policy_types ?? 'Ingress').split(','),
              ...(params.ingress !== undefined ? { ingress: params.ingress } : {}),
              ...(params.egress !== undefined ? { egress: params.egress } : {}),
            },
          },
          description: 'server-side apply',
        },
      ];
    default:
      throw new Error(
        `no API plan for action "${action}" (exec-pod and port-forward open a stream; other actions are not Kubernetes catalogue actions)`,
      );
  }
}
