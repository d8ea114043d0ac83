import type { ExecutionRequest } from '@agent-safe/core';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { param, textParam } from './action-input.js';
import { utilizationMetric } from './actions.js';
import { KubernetesCallError, plainJson, quote, type Session, statusOf } from './session.js';

/** The kind of live object whose state an action's `state_fields` describe. */
const OBJECT_OF_ACTION: Readonly<Record<string, string>> = {
  'restart-deployment': 'deployment',
  'scale-deployment': 'deployment',
  'rollout-status': 'deployment',
  'rollout-undo': 'deployment',
  'update-image': 'deployment',
  'cordon-node': 'node',
  'uncordon-node': 'node',
  'drain-node': 'node',
  'delete-pod': 'pod',
  'get-pod-logs': 'pod',
  'exec-pod': 'pod',
  'port-forward': 'pod',
  'get-configmap': 'configmap',
  'update-configmap': 'configmap',
  'get-secret': 'secret',
  'scale-hpa': 'hpa',
  'update-hpa-limits': 'hpa',
  'apply-network-policy': 'networkpolicy',
  'create-namespace': 'namespace',
  'delete-namespace': 'namespace',
};

function pick(fields: readonly string[], values: Record<string, unknown>): Record<string, unknown> {
  const state: Record<string, unknown> = {};
  for (const field of fields) {
    const value = values[field];
    if (value !== undefined) state[field] = value;
  }
  return state;
}

/** A missing object: a clear error naming it (readState of anything but a create must find it). */
function missing(kind: string, id: string): KubernetesCallError {
  return new KubernetesCallError(
    `cannot read the state: ${kind} ${quote(id)} does not exist (HTTP 404)`,
    404,
  );
}

async function readOrMissing<T>(
  session: Session,
  read: Parameters<Session['call']>[0],
): Promise<T | undefined> {
  try {
    return (await session.call(read)) as T;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

function revisionOf(deployment: V1Deployment): number | undefined {
  const text = deployment.metadata?.annotations?.['deployment.kubernetes.io/revision'];
  return typeof text === 'string' && /^\d{1,10}$/.test(text) ? Number(text) : undefined;
}

function ownerKind(pod: V1Pod): string | undefined {
  const owners = pod.metadata?.ownerReferences ?? [];
  return (owners.find((owner) => owner.controller === true) ?? owners[0])?.kind;
}

/**
 * Reads the named `state_fields` of an action from its live object. Only fields that exist are
 * returned. A Secret's values are never part of its state. A missing object throws, except for
 * actions that create it (create-namespace, apply-network-policy: `existed: false`).
 */
export async function readActionState(
  session: Session,
  request: ExecutionRequest,
  fields: readonly string[],
): Promise<Record<string, unknown>> {
  if (fields.length === 0) return {};
  const action = request.action.name;
  const kind = OBJECT_OF_ACTION[action];
  if (kind === undefined) {
    throw new KubernetesCallError(
      `the Kubernetes executor cannot read state for action ${quote(action, 100)}: it knows the Kubernetes catalogue actions only`,
    );
  }
  const { apps, core, autoscaling, networking } = session.apis;
  switch (kind) {
    case 'deployment': {
      const name = textParam(request, 'deployment');
      const namespace = textParam(request, 'namespace');
      const deployment = await readOrMissing<V1Deployment>(session, (options) =>
        apps.readNamespacedDeployment({ name, namespace }, options),
      );
      if (deployment === undefined) throw missing('deployment', `${namespace}/${name}`);
      const containers = deployment.spec?.template?.spec?.containers ?? [];
      const container = param(request, 'container');
      return pick(fields, {
        replicas: deployment.spec?.replicas,
        ready_replicas: deployment.status?.readyReplicas,
        available_replicas: deployment.status?.availableReplicas,
        updated_replicas: deployment.status?.updatedReplicas,
        generation: deployment.metadata?.generation,
        observed_generation: deployment.status?.observedGeneration,
        image: containers.find((item) => item.name === container)?.image,
        images: containers.map((item) => item.image),
        revision: revisionOf(deployment),
      });
    }
    case 'node': {
      const name = textParam(request, 'node');
      const node = await readOrMissing<{ spec?: { unschedulable?: boolean } }>(session, (options) =>
        core.readNode({ name }, options),
      );
      if (node === undefined) throw missing('node', name);
      let podCount: number | undefined;
      if (fields.includes('pod_count')) {
        const pods = await session.listAll<V1Pod>(`pods on node ${quote(name)}`, (cursor, options) =>
          core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}`, ...cursor }, options),
        );
        // Pods still placed on the node: not terminating and not finished.
        podCount = pods.filter(
          (pod) =>
            pod.metadata?.deletionTimestamp == null &&
            pod.status?.phase !== 'Succeeded' &&
            pod.status?.phase !== 'Failed',
        ).length;
      }
      return pick(fields, { unschedulable: node.spec?.unschedulable === true, pod_count: podCount });
    }
    case 'pod': {
      const name = textParam(request, 'pod');
      const namespace = textParam(request, 'namespace');
      const pod = await readOrMissing<V1Pod>(session, (options) =>
        core.readNamespacedPod({ name, namespace }, options),
      );
      if (pod === undefined) throw missing('pod', `${namespace}/${name}`);
      return pick(fields, {
        phase: pod.status?.phase,
        node_name: pod.spec?.nodeName,
        owner_kind: ownerKind(pod),
        terminating: pod.metadata?.deletionTimestamp != null,
      });
    }
    case 'configmap': {
      const name = textParam(request, 'configmap');
      const namespace = textParam(request, 'namespace');
      const configMap = await readOrMissing<{
        data?: Record<string, string>;
        metadata?: { resourceVersion?: string };
      }>(session, (options) => core.readNamespacedConfigMap({ name, namespace }, options));
      if (configMap === undefined) throw missing('configmap', `${namespace}/${name}`);
      const key = param(request, 'key');
      const data = configMap.data ?? {};
      return pick(fields, {
        previous_value: typeof key === 'string' && Object.hasOwn(data, key) ? data[key] : undefined,
        resource_version: configMap.metadata?.resourceVersion,
        keys: Object.keys(data),
      });
    }
    case 'secret': {
      // Never the values: only facts about the object.
      const name = textParam(request, 'secret');
      const namespace = textParam(request, 'namespace');
      const secret = await readOrMissing<{
        type?: string;
        data?: Record<string, string>;
        metadata?: { resourceVersion?: string };
      }>(session, (options) => core.readNamespacedSecret({ name, namespace }, options));
      if (secret === undefined) throw missing('secret', `${namespace}/${name}`);
      return pick(fields, {
        type: secret.type,
        resource_version: secret.metadata?.resourceVersion,
        keys: Object.keys(secret.data ?? {}),
      });
    }
    case 'hpa': {
      const name = textParam(request, 'hpa');
      const namespace = textParam(request, 'namespace');
      const hpa = await readOrMissing<
        Awaited<ReturnType<typeof autoscaling.readNamespacedHorizontalPodAutoscaler>>
      >(session, (options) =>
        autoscaling.readNamespacedHorizontalPodAutoscaler({ name, namespace }, options),
      );
      if (hpa === undefined) throw missing('hpa', `${namespace}/${name}`);
      return pick(fields, {
        min_replicas: hpa.spec?.minReplicas,
        max_replicas: hpa.spec?.maxReplicas,
        current_replicas: hpa.status?.currentReplicas,
        desired_replicas: hpa.status?.desiredReplicas,
        target_cpu_percent: utilizationMetric(hpa.spec?.metrics, 'cpu')?.resource?.target?.averageUtilization,
        target_memory_percent: utilizationMetric(hpa.spec?.metrics, 'memory')?.resource?.target
          ?.averageUtilization,
      });
    }
    case 'networkpolicy': {
      const name = textParam(request, 'policy_name');
      const namespace = textParam(request, 'namespace');
      const policy = await readOrMissing<{ spec?: unknown }>(session, (options) =>
        networking.readNamespacedNetworkPolicy({ name, namespace }, options),
      );
      return pick(fields, {
        existed: policy !== undefined,
        previous_spec: policy?.spec === undefined ? undefined : plainJson(policy.spec),
      });
    }
    default: {
      const name = textParam(request, 'namespace');
      const namespace = await readOrMissing<{ status?: { phase?: string } }>(session, (options) =>
        core.readNamespace({ name }, options),
      );
      if (namespace === undefined && action !== 'create-namespace') throw missing('namespace', name);
      return pick(fields, { existed: namespace !== undefined, phase: namespace?.status?.phase });
    }
  }
}
