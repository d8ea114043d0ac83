import type { V1Deployment, V1PodTemplateSpec, V1ReplicaSet } from '@kubernetes/client-node';
import {
  type ActionInput,
  type ActionResult,
  integerParam,
  optionalInteger,
  plannedCall,
  textParam,
} from './action-input.js';
import { plainJson, quote } from './session.js';

const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
const JSON_PATCH = 'application/json-patch+json';

/** A Deployment's rollout progress as rollout-status reports it. */
export interface RolloutProgress {
  readonly replicas: number;
  readonly updatedReplicas: number;
  readonly readyReplicas: number;
  readonly availableReplicas: number;
  readonly totalReplicas: number;
  readonly generation: number;
  readonly observedGeneration: number;
  readonly complete: boolean;
  /** Set when the Deployment's Progressing condition says its deadline passed. */
  readonly stuck?: string;
}

export function rolloutProgress(deployment: V1Deployment): RolloutProgress {
  const status = deployment.status ?? {};
  const replicas = deployment.spec?.replicas ?? 1;
  const updatedReplicas = status.updatedReplicas ?? 0;
  const readyReplicas = status.readyReplicas ?? 0;
  const availableReplicas = status.availableReplicas ?? 0;
  const totalReplicas = status.replicas ?? 0;
  const generation = deployment.metadata?.generation ?? 0;
  const observedGeneration = status.observedGeneration ?? 0;
  const progressing = status.conditions?.find((condition) => condition.type === 'Progressing');
  const complete =
    observedGeneration >= generation &&
    updatedReplicas === replicas &&
    readyReplicas === replicas &&
    availableReplicas === replicas &&
    totalReplicas === replicas;
  return {
    replicas,
    updatedReplicas,
    readyReplicas,
    availableReplicas,
    totalReplicas,
    generation,
    observedGeneration,
    complete,
    ...(progressing?.reason === 'ProgressDeadlineExceeded'
      ? { stuck: quote(progressing.message ?? 'progress deadline exceeded') }
      : {}),
  };
}

function summary(progress: RolloutProgress): string {
  return (
    `${progress.updatedReplicas} of ${progress.replicas} updated, ${progress.readyReplicas} ready, ` +
    `${progress.availableReplicas} available, ${progress.totalReplicas} in total` +
    (progress.observedGeneration < progress.generation
      ? `, generation ${progress.generation} not yet observed (at ${progress.observedGeneration})`
      : '')
  );
}

/** Polls the Deployment (the planned GET) until the rollout is complete, stuck, or `timeout_seconds` pass. */
export async function rolloutStatus(input: ActionInput): Promise<ActionResult> {
  const { session, request } = input;
  plannedCall(input, 0);
  const name = textParam(request, 'deployment');
  const namespace = textParam(request, 'namespace');
  const timeoutSeconds = integerParam(request, 'timeout_seconds', 60);
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const deployment = await session.call((options) =>
      session.apis.apps.readNamespacedDeployment({ name, namespace }, options),
    );
    const progress = rolloutProgress(deployment);
    if (progress.complete) return { ok: true, output: progress };
    if (progress.stuck !== undefined) {
      return {
        ok: false,
        output: progress,
        error: `rollout of deployment ${quote(`${namespace}/${name}`)} is stuck: ${progress.stuck} (${summary(progress)})`,
      };
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      return {
        ok: false,
        output: progress,
        error: `rollout of deployment ${quote(`${namespace}/${name}`)} not complete after ${timeoutSeconds} s: ${summary(progress)}`,
      };
    }
    await session.sleep(Math.min(session.pollIntervalMs, left));
  }
}

function revisionOf(object: { metadata?: { annotations?: Record<string, string> } }): number | undefined {
  const text = object.metadata?.annotations?.[REVISION_ANNOTATION];
  return typeof text === 'string' && /^\d{1,10}$/.test(text) ? Number(text) : undefined;
}

/**
 * kubectl rollout undo: find the ReplicaSet the Deployment owns for the wanted revision (the previous
 * one by default), and replace the Deployment's pod template with that ReplicaSet's template minus its
 * `pod-template-hash` label (a JSON patch, so nothing of the newer template survives).
 */
export async function rolloutUndo(input: ActionInput): Promise<ActionResult> {
  const { session, request } = input;
  const name = textParam(request, 'deployment');
  const namespace = textParam(request, 'namespace');
  const wanted = optionalInteger(request, 'revision');
  const id = quote(`${namespace}/${name}`);
  plannedCall(input, 0);
  const deployment = await session.call((options) =>
    session.apis.apps.readNamespacedDeployment({ name, namespace }, options),
  );
  const uid = deployment.metadata?.uid;
  plannedCall(input, 1);
  const replicaSets = await session.listAll<V1ReplicaSet>(
    `replicasets in namespace ${quote(namespace)}`,
    (cursor, options) => session.apis.apps.listNamespacedReplicaSet({ namespace, ...cursor }, options),
  );
  const history = new Map<number, V1ReplicaSet>();
  for (const replicaSet of replicaSets) {
    if (
      !replicaSet.metadata?.ownerReferences?.some((owner) => owner.uid === uid && owner.kind === 'Deployment')
    )
      continue;
    const revision = revisionOf(replicaSet);
    if (revision !== undefined) history.set(revision, replicaSet);
  }
  const revisions = [...history.keys()].sort((a, b) => a - b);
  const current = revisionOf(deployment) ?? revisions[revisions.length - 1];
  let target: number | undefined;
  if (wanted !== undefined) {
    if (!history.has(wanted)) {
      return {
        ok: false,
        error: `deployment ${id} has no revision ${wanted} in its history; the revisions that exist are ${revisions.join(', ') || 'none'}`,
      };
    }
    target = wanted;
  } else {
    target = revisions.filter((revision) => current === undefined || revision < current).pop();
    if (target === undefined) {
      return {
        ok: false,
        error: `deployment ${id} has no previous revision to roll back to; the revisions that exist are ${revisions.join(', ') || 'none'}`,
      };
    }
  }
  if (target === current) {
    return {
      ok: true,
      output: { revision: current, skipped: `the deployment is already at revision ${current}` },
    };
  }
  const replicaSet = history.get(target) as V1ReplicaSet;
  const template = plainJson(replicaSet.spec?.template ?? {}) as V1PodTemplateSpec & {
    metadata?: { labels?: Record<string, string> };
  };
  if (template.metadata?.labels) delete template.metadata.labels['pod-template-hash'];
  const call = plannedCall(input, 2);
  const body = [{ op: 'replace', path: '/spec/template', value: template }];
  const updated = await session.call(
    (options) => session.apis.apps.patchNamespacedDeployment({ name, namespace, body }, options),
    call.contentType ?? JSON_PATCH,
  );
  return {
    ok: true,
    output: {
      rolledBackTo: target,
      previousRevision: current,
      images: updated.spec?.template?.spec?.containers?.map((container) => container.image),
      generation: updated.metadata?.generation,
    },
  };
}
