import type { V2HorizontalPodAutoscaler, V2MetricSpec } from '@kubernetes/client-node';
import {
  type ActionInput,
  type ActionResult,
  integerParam,
  optionalInteger,
  param,
  plannedCall,
  textParam,
} from './action-input.js';
import { drainNode } from './drain.js';
import { rolloutStatus, rolloutUndo } from './rollout.js';
import { KubernetesCallError, quote, statusOf } from './session.js';

const MERGE_PATCH = 'application/merge-patch+json';
const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
const APPLY_PATCH = 'application/apply-patch+yaml';

/** Most log characters returned by get-pod-logs (the server already cuts at `limitBytes`). */
export const MAX_LOG_OUTPUT = 1024 * 1024;
/** Attempts of a read-modify-replace that meets a conflicting write (HTTP 409). */
const REPLACE_ATTEMPTS = 3;

/** Actions that need an interactive stream, which this executor does not open; what a person runs instead. */
export const STREAMING_ACTIONS: Readonly<Record<string, string>> = {
  'exec-pod':
    'exec-pod needs an interactive stream (SPDY/WebSocket) that the Kubernetes executor does not open; ' +
    'a person runs it with `kubectl exec -n <namespace> <pod> [-c <container>] -- <command…>`',
  'port-forward':
    'port-forward keeps a tunnel open for its duration, which the Kubernetes executor does not do; ' +
    'a person runs it with `kubectl port-forward -n <namespace> pod/<pod> <local_port>:<remote_port>`',
};

type Implementation = (input: ActionInput) => Promise<ActionResult>;

/** The implementation of each planned catalogue action. */
export const ACTIONS: Readonly<Record<string, Implementation>> = {
  'restart-deployment': restartDeployment,
  'scale-deployment': scaleDeployment,
  'rollout-status': rolloutStatus,
  'rollout-undo': rolloutUndo,
  'update-image': updateImage,
  'delete-pod': deletePod,
  'get-pod-logs': getPodLogs,
  'cordon-node': patchNodeSchedulable,
  'uncordon-node': patchNodeSchedulable,
  'drain-node': drainNode,
  'create-namespace': createNamespace,
  'delete-namespace': deleteNamespace,
  'get-configmap': getConfigMap,
  'update-configmap': updateConfigMap,
  'get-secret': getSecret,
  'scale-hpa': scaleHpa,
  'update-hpa-limits': updateHpaLimits,
  'apply-network-policy': applyNetworkPolicy,
};

function namespaced(input: ActionInput, nameParam: string): { name: string; namespace: string } {
  return { name: textParam(input.request, nameParam), namespace: textParam(input.request, 'namespace') };
}

async function restartDeployment(input: ActionInput): Promise<ActionResult> {
  const { session } = input;
  const call = plannedCall(input, 0);
  const updated = await session.call(
    (options) =>
      session.apis.apps.patchNamespacedDeployment(
        { ...namespaced(input, 'deployment'), body: call.body },
        options,
      ),
    call.contentType ?? STRATEGIC_MERGE_PATCH,
  );
  return {
    ok: true,
    output: {
      restartedAt: updated.spec?.template?.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'],
      generation: updated.metadata?.generation,
    },
  };
}

async function scaleDeployment(input: ActionInput): Promise<ActionResult> {
  const { session } = input;
  const call = plannedCall(input, 0);
  const scale = await session.call(
    (options) =>
      session.apis.apps.patchNamespacedDeploymentScale(
        { ...namespaced(input, 'deployment'), body: call.body },
        options,
      ),
    call.contentType ?? MERGE_PATCH,
  );
  return { ok: true, output: { replicas: scale.spec?.replicas } };
}

async function updateImage(input: ActionInput): Promise<ActionResult> {
  const { session, request } = input;
  const target = namespaced(input, 'deployment');
  const container = textParam(request, 'container');
  // A strategic merge patch naming an unknown container would ADD one: check first (planned call 1).
  const deployment = await session.call((options) =>
    session.apis.apps.readNamespacedDeployment(target, options),
  );
  const names = (deployment.spec?.template?.spec?.containers ?? []).map((item) => item.name);
  if (!names.includes(container)) {
    return {
      ok: false,
      error: `deployment ${quote(`${target.namespace}/${target.name}`)} has no container ${quote(container)}; its containers are ${names.map((name) => quote(name, 63)).join(', ') || 'none'}`,
    };
  }
  const call = plannedCall(input, 1);
  const updated = await session.call(
    (options) => session.apis.apps.patchNamespacedDeployment({ ...target, body: call.body }, options),
    call.contentType ?? STRATEGIC_MERGE_PATCH,
  );
  const image = updated.spec?.template?.spec?.containers?.find((item) => item.name === container)?.image;
  return { ok: true, output: { container, image, generation: updated.metadata?.generation } };
}

async function deletePod(input: ActionInput): Promise<ActionResult> {
  const { session, request } = input;
  const gracePeriodSeconds = integerParam(request, 'grace_period', 30);
  const body = plannedCall(input, 0).body as { gracePeriodSeconds?: number } | undefined;
  const pod = await session.call((options) =>
    session.apis.core.deleteNamespacedPod(
      { ...namespaced(input, 'pod'), gracePeriodSeconds, body: body ?? { gracePeriodSeconds } },
      options,
    ),
  );
  return {
    ok: true,
    output: {
      pod: `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`,
      gracePeriodSeconds,
      deletionTimestamp: pod.metadata?.deletionTimestamp?.toISOString?.() ?? null,
    },
  };
}

async function getPodLogs(input: ActionInput): Promise<ActionResult> {
  const { session } = input;
  const query = plannedCall(input, 0).query ?? {};
  const logs = await session.call((options) =>
    session.apis.core.readNamespacedPodLog(
      {
        ...namespaced(input, 'pod'),
        ...(query.container !== undefined ? { container: query.container } : {}),
        ...(query.tailLines !== undefined ? { tailLines: Number(query.tailLines) } : {}),
        ...(query.sinceSeconds !== undefined ? { sinceSeconds: Number(query.sinceSeconds) } : {}),
        ...(query.previous === 'true' ? { previous: true } : {}),
        ...(query.limitBytes !== undefined ? { limitBytes: Number(query.limitBytes) } : {}),
      },
      options,
    ),
  );
  const text = typeof logs === 'string' ? logs : String(logs ?? '');
  return {
    ok: true,
    output: { logs: text.slice(0, MAX_LOG_OUTPUT), truncated: text.length > MAX_LOG_OUTPUT },
  };
}

async function patchNodeSchedulable(input: ActionInput): Promise<ActionResult> {
  const { session, request } = input;
  const call = plannedCall(input, 0);
  const node = await session.call(
    (options) => session.apis.core.patchNode({ name: textParam(request, 'node'), body: call.body }, options),
    call.contentType ?? MERGE_PATCH,
  );
  return {
    ok: true,
    output: { node: node.metadata?.name, unschedulable: node.spec?.unschedulable === true },
  };
}

async function createNamespace(input: ActionInput): Promise<ActionResult> {
  const { session } = input;
  const body = plannedCall(input, 0).body as { metadata: { name: string } };
  const created = await session.call((options) => session.apis.core.createNamespace({ body }, options));
  return { ok: true, output: { namespace: created.metadata?.name, phase: created.status?.phase } };
}

async function deleteNamespace(input: ActionInput): Promise<ActionResult> {
  const { session, request } = input;
  const name = textParam(request, 'namespace');
  await session.call((options) => session.apis.core.deleteNamespace({ name }, options));
  return { ok: true, output: { namespace: name, deleting: true } };
}

async function getConfigMap(input: ActionInput): Promise<ActionResult> {
  const { session, request } = input;
  const target = namespaced(input, 'configmap');
  const configMap = await session.call((options) =>
    session.apis.core.readNamespacedConfigMap(target, options),
  );
  const data = configMap.data ?? {};
  const key = param(request, 'key');
  if (typeof key === 'string') {
    if (!Object.hasOwn(data, key)) {
      return {
        ok: false,
        error: `configmap ${quote(`${target.namespace}/${target.name}`)} has no key ${quote(key)}; its keys are ${
          Object.keys(data)
            .slice(0, 50)
            .map((item) => quote(item, 253))
            .join(', ') || 'none'
        }`,
      };
    }
    return { ok: true, output: { key, value: data[key] } };
  }
  return {
    ok: true,
    output: { data, binaryKeys: Object.keys(configMap.binaryData ?? {}) },
  };
}

async function updateConfigMap(input: ActionInput): Promise<ActionResult> {
  const { session, request } = input;
  const call = plannedCall(input, 0);
  const updated = await session.call(
    (options) =>
      session.apis.core.patchNamespacedConfigMap(
        { ...namespaced(input, 'configmap'), body: call.body },
        options,
      ),
    call.contentType ?? MERGE_PATCH,
  );
  // The new value is a sensitive param: only the key and the new resourceVersion come back.
  return {
    ok: true,
    output: { key: textParam(request, 'key'), resourceVersion: updated.metadata?.resourceVersion },
  };
}

function decodeSecretValue(encoded: string): { value: string } | { base64: string } {
  const bytes = Buffer.from(encoded, 'base64');
  try {
    return { value: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { base64: encoded };
  }
}

/**
 * The decoded values go to the caller as output (the runner never writes output to the audit log);
 * the returned calls and any error hold names only.
 */
async function getSecret(input: ActionInput): Promise<ActionResult> {
  const { session, request } = input;
  const target = namespaced(input, 'secret');
  const secret = await session.call((options) => session.apis.core.readNamespacedSecret(target, options));
  const data = secret.data ?? {};
  const key = param(request, 'key');
  if (typeof key === 'string') {
    if (!Object.hasOwn(data, key)) {
      return {
        ok: false,
        error: `secret ${quote(`${target.namespace}/${target.name}`)} has no key ${quote(key)}; its keys are ${
          Object.keys(data)
            .slice(0, 50)
            .map((item) => quote(item, 253))
            .join(', ') || 'none'
        }`,
      };
    }
    return { ok: true, output: { key, ...decodeSecretValue(data[key] ?? '') } };
  }
  const values: Record<string, string> = {};
  const binary: Record<string, string> = {};
  for (const [name, encoded] of Object.entries(data)) {
    const decoded = decodeSecretValue(encoded);
    if ('value' in decoded) values[name] = decoded.value;
    else binary[name] = decoded.base64;
  }
  return {
    ok: true,
    output: {
      type: secret.type,
      data: values,
      ...(Object.keys(binary).length > 0 ? { base64: binary } : {}),
    },
  };
}

async function scaleHpa(input: ActionInput): Promise<ActionResult> {
  const { session } = input;
  const call = plannedCall(input, 0);
  const hpa = await session.call(
    (options) =>
      session.apis.autoscaling.patchNamespacedHorizontalPodAutoscaler(
        { ...namespaced(input, 'hpa'), body: call.body },
        options,
      ),
    call.contentType ?? MERGE_PATCH,
  );
  return { ok: true, output: { minReplicas: hpa.spec?.minReplicas, maxReplicas: hpa.spec?.maxReplicas } };
}

/** The Resource metric of `resource` (cpu, memory) with a utilisation target, if the HPA has one. */
export function utilizationMetric(metrics: readonly V2MetricSpec[] | undefined, resource: string) {
  return metrics?.find(
    (metric) =>
      metric.type === 'Resource' &&
      metric.resource?.name === resource &&
      metric.resource.target?.type === 'Utilization',
  );
}

/** Read, change the utilisation targets, replace with the read resourceVersion; a 409 starts over. */
async function updateHpaLimits(input: ActionInput): Promise<ActionResult> {
  const { session, request } = input;
  const target = namespaced(input, 'hpa');
  const cpu = optionalInteger(request, 'target_cpu_percent');
  const memory = optionalInteger(request, 'target_memory_percent');
  if (cpu === undefined && memory === undefined) {
    return { ok: false, error: 'give target_cpu_percent, target_memory_percent or both' };
  }
  for (let attempt = 1; ; attempt += 1) {
    const hpa: V2HorizontalPodAutoscaler = await session.call((options) =>
      session.apis.autoscaling.readNamespacedHorizontalPodAutoscaler(target, options),
    );
    const missing: string[] = [];
    for (const [resource, percent] of [
      ['cpu', cpu],
      ['memory', memory],
    ] as const) {
      if (percent === undefined) continue;
      const metric = utilizationMetric(hpa.spec?.metrics, resource);
      if (metric?.resource?.target === undefined) missing.push(resource);
      else metric.resource.target.averageUtilization = percent;
    }
    if (missing.length > 0) {
      return {
        ok: false,
        error: `hpa ${quote(`${target.namespace}/${target.name}`)} has no ${missing.join(' or ')} Utilization metric to change (add the metric first; this action only changes existing targets)`,
      };
    }
    try {
      const replaced = await session.call((options) =>
        session.apis.autoscaling.replaceNamespacedHorizontalPodAutoscaler({ ...target, body: hpa }, options),
      );
      return {
        ok: true,
        output: {
          targetCpuPercent: utilizationMetric(replaced.spec?.metrics, 'cpu')?.resource?.target
            ?.averageUtilization,
          targetMemoryPercent: utilizationMetric(replaced.spec?.metrics, 'memory')?.resource?.target
            ?.averageUtilization,
          attempts: attempt,
        },
      };
    } catch (error) {
      if (statusOf(error) !== 409 || attempt >= REPLACE_ATTEMPTS) throw error;
    }
  }
}

async function applyNetworkPolicy(input: ActionInput): Promise<ActionResult> {
  const { session } = input;
  const call = plannedCall(input, 0);
  const policy = await session.call(
    (options) =>
      session.apis.networking.patchNamespacedNetworkPolicy(
        {
          ...namespaced(input, 'policy_name'),
          body: call.body,
          fieldManager: call.query?.fieldManager ?? 'agent-safe',
          force: call.query?.force !== 'false',
        },
        options,
      ),
    call.contentType ?? APPLY_PATCH,
  );
  return {
    ok: true,
    output: {
      policy: `${policy.metadata?.namespace ?? ''}/${policy.metadata?.name ?? ''}`,
      resourceVersion: policy.metadata?.resourceVersion,
    },
  };
}

/** Thrown by an action for a request it cannot serve. */
export function unsupported(action: string): KubernetesCallError {
  return new KubernetesCallError(
    `the Kubernetes executor has no implementation of action ${quote(action, 100)} (it runs the Kubernetes catalogue actions)`,
  );
}
