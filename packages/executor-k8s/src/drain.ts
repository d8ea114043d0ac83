import type { V1Pod } from '@kubernetes/client-node';
import {
  type ActionInput,
  type ActionResult,
  booleanParam,
  integerParam,
  objectId,
  plannedCall,
  textParam,
} from './action-input.js';
import { quote, statusOf } from './session.js';

const MERGE_PATCH = 'application/merge-patch+json';
const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';
/** Longest wait between two rounds of refused evictions. */
const MAX_BACKOFF_MS = 5000;
/** Most pods named in an error message; the output lists them all. */
const NAMED_IN_ERROR = 10;

/** A pod the drain did not evict, and why. */
export interface PodNotEvicted {
  readonly pod: string;
  readonly reason: string;
}

/** The output of drain-node. */
export interface DrainReport {
  readonly node: string;
  readonly cordoned: boolean;
  readonly evicted: string[];
  readonly notEvicted: PodNotEvicted[];
  /** Pods a drain leaves alone (DaemonSet pods with ignore_daemonsets, mirror pods). */
  readonly skipped: PodNotEvicted[];
}

function controllerKind(pod: V1Pod): string | undefined {
  const owners = pod.metadata?.ownerReferences ?? [];
  return (owners.find((owner) => owner.controller === true) ?? owners[0])?.kind;
}

function listed(items: readonly PodNotEvicted[]): string {
  const shown = items.slice(0, NAMED_IN_ERROR).map((item) => `${quote(item.pod, 200)} (${item.reason})`);
  return items.length > NAMED_IN_ERROR
    ? `${shown.join('; ')}; and ${items.length - NAMED_IN_ERROR} more`
    : shown.join('; ');
}

/**
 * kubectl drain through the API: cordon, list the node's pods, refuse (like kubectl) when DaemonSet pods
 * must not be ignored or pods with emptyDir data may not be deleted, then evict every other pod through
 * the Eviction API. A 429 (a PodDisruptionBudget refusing, or throttling) is retried with backoff until
 * `timeout_seconds`; any pod left makes the outcome a failure ("partial drain"). The node stays cordoned
 * either way. An accepted eviction counts as evicted (the pod is then terminating).
 */
export async function drainNode(input: ActionInput): Promise<ActionResult> {
  const { session, request } = input;
  const node = textParam(request, 'node');
  const timeoutSeconds = integerParam(request, 'timeout_seconds', 300);
  const ignoreDaemonSets = booleanParam(request, 'ignore_daemonsets', true);
  const deleteEmptyDirData = booleanParam(request, 'delete_emptydir_data', false);
  const deadline = Date.now() + timeoutSeconds * 1000;
  const report: DrainReport = { node, cordoned: false, evicted: [], notEvicted: [], skipped: [] };

  const cordon = plannedCall(input, 0);
  await session.call(
    (options) => session.apis.core.patchNode({ name: node, body: cordon.body }, options),
    cordon.contentType ?? MERGE_PATCH,
  );
  (report as { cordoned: boolean }).cordoned = true;

  plannedCall(input, 1);
  const pods = await session.listAll<V1Pod>(`pods on node ${quote(node)}`, (cursor, options) =>
    session.apis.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}`, ...cursor }, options),
  );

  const toEvict: V1Pod[] = [];
  const blocking: PodNotEvicted[] = [];
  for (const pod of pods) {
    const id = objectId(pod);
    if (pod.metadata?.annotations?.[MIRROR_ANNOTATION] !== undefined) {
      report.skipped.push({ pod: id, reason: 'mirror pod of a static pod (the kubelet owns it)' });
    } else if (controllerKind(pod) === 'DaemonSet') {
      if (ignoreDaemonSets) report.skipped.push({ pod: id, reason: 'managed by a DaemonSet' });
      else
        blocking.push({
          pod: id,
          reason: 'managed by a DaemonSet (set ignore_daemonsets: true to leave it)',
        });
    } else if (
      !deleteEmptyDirData &&
      (pod.spec?.volumes ?? []).some((volume) => volume.emptyDir !== undefined)
    ) {
      blocking.push({ pod: id, reason: 'has emptyDir data (set delete_emptydir_data: true to delete it)' });
    } else {
      toEvict.push(pod);
    }
  }
  if (blocking.length > 0) {
    report.notEvicted.push(...blocking);
    for (const pod of toEvict) report.notEvicted.push({ pod: objectId(pod), reason: 'not attempted' });
    return {
      ok: false,
      output: report,
      error: `cannot drain node ${quote(node)}: ${listed(blocking)}; nothing was evicted and the node stays cordoned`,
    };
  }

  plannedCall(input, 2);
  let pending = toEvict;
  const refusals = new Map<string, string>();
  let delay = Math.max(1, Math.min(session.pollIntervalMs, MAX_BACKOFF_MS));
  try {
    while (pending.length > 0) {
      const refused: V1Pod[] = [];
      for (const pod of pending) {
        const name = pod.metadata?.name ?? '';
        const namespace = pod.metadata?.namespace ?? '';
        const id = objectId(pod);
        try {
          await session.call((options) =>
            session.apis.core.createNamespacedPodEviction(
              {
                name,
                namespace,
                body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } },
              },
              options,
            ),
          );
          report.evicted.push(id);
        } catch (error) {
          if (session.signal.aborted) throw error;
          const status = statusOf(error);
          const text = error instanceof Error ? error.message : String(error);
          if (status === 404)
            report.evicted.push(id); // gone already
          else if (status === 429) {
            refused.push(pod);
            refusals.set(id, `eviction refused (a PodDisruptionBudget or throttling): ${text}`);
          } else report.notEvicted.push({ pod: id, reason: text });
        }
      }
      pending = refused;
      const left = deadline - Date.now();
      if (pending.length === 0 || left <= 0) break;
      await session.sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
    }
  } catch (error) {
    if (!session.signal.aborted) throw error;
    for (const pod of pending) {
      const id = objectId(pod);
      if (!report.evicted.includes(id)) report.notEvicted.push({ pod: id, reason: 'the run was stopped' });
    }
    return {
      ok: false,
      output: report,
      error: `drain of node ${quote(node)} stopped before it finished: evicted ${report.evicted.length} of ${toEvict.length} pods; the node stays cordoned`,
    };
  }
  for (const pod of pending) {
    const id = objectId(pod);
    report.notEvicted.push({
      pod: id,
      reason: `${refusals.get(id) ?? 'refused'} (retried for ${timeoutSeconds} s)`,
    });
  }
  if (report.notEvicted.length > 0) {
    return {
      ok: false,
      output: report,
      error: `partial drain of node ${quote(node)}: evicted ${report.evicted.length} of ${toEvict.length} pods; not evicted: ${listed(report.notEvicted)}; the node stays cordoned`,
    };
  }
  return { ok: true, output: report };
}
