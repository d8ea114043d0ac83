import type {
  V1Deployment,
  V1PodTemplateSpec,
  V1ResourceQuota,
  V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import type { KubernetesApis } from './apis.js';
import {
  type Check,
  controllerOf,
  fail,
  formatQuantity,
  integerParam,
  listAll,
  nameList,
  optionalInteger,
  parseQuantity,
  pass,
  plural,
  podResources,
  quote,
  read,
  namespacedObject,
  textParam,
  warn,
} from './precheck-support.js';

/** Deployment, HorizontalPodAutoscaler, ResourceQuota and image prechecks. */

const REVISION = 'deployment.kubernetes.io/revision';

const { read: readDeployment, label: deploymentLabel } = namespacedObject<V1Deployment>(
  'Deployment',
  'deployment',
  (apis, object, options) => apis.apps.readNamespacedDeployment(object, options),
);

/** deployment-exists: readable; for restart-deployment also not paused (the restart would never roll out). */
export const deploymentExists: Check = async (request, apis, signal) => {
  const deployment = await readDeployment(request, apis, signal);
  if (deployment.metadata?.deletionTimestamp)
    return fail(`Deployment ${deploymentLabel(request)} is being deleted`);
  if (request.action.name === 'restart-deployment' && deployment.spec?.paused === true) {
    return fail(
      `Deployment ${deploymentLabel(request)} is paused: a restart would not roll out until it is resumed`,
    );
  }
  return pass(
    `Deployment ${deploymentLabel(request)} exists (${plural(deployment.spec?.replicas ?? 1, 'replica')} wanted)`,
  );
};

/** not-paused: a paused Deployment would not roll out the undo. */
export const notPaused: Check = async (request, apis, signal) => {
  const deployment = await readDeployment(request, apis, signal);
  return deployment.spec?.paused === true
    ? fail(
        `Deployment ${deploymentLabel(request)} is paused: the undo would not roll out until it is resumed`,
      )
    : pass(`Deployment ${deploymentLabel(request)} is not paused`);
};

/**
 * enough-replicas: at least two available replicas pass. Fewer is a warning, not a block: a restart
 * of a single or already broken replica is a common, wanted remedy, but the approver should know it
 * may mean a short outage.
 */
export const enoughReplicas: Check = async (request, apis, signal) => {
  const deployment = await readDeployment(request, apis, signal);
  const available = deployment.status?.availableReplicas ?? 0;
  if (available >= 2)
    return pass(`Deployment ${deploymentLabel(request)} has ${available} available replicas`);
  const strategy = deployment.spec?.strategy;
  const surgeFirst =
    strategy?.type !== 'Recreate' &&
    (strategy?.rollingUpdate?.maxUnavailable === 0 ||
      strategy?.rollingUpdate?.maxUnavailable === '0%' ||
      strategy?.rollingUpdate?.maxUnavailable === undefined);
  return warn(
    `Deployment ${deploymentLabel(request)} has only ${plural(available, 'available replica')}: ${
      strategy?.type === 'Recreate'
        ? 'with the Recreate strategy the restart is an outage'
        : surgeFirst
          ? 'the rolling update starts a new pod before stopping the old one, but the service has no spare replica if it fails'
          : 'the restart may cause a short outage'
    }`,
  );
};

/** no-rollout-in-progress: the controller observed the current generation and every replica is updated. */
export const noRolloutInProgress: Check = async (request, apis, signal) => {
  const deployment = await readDeployment(request, apis, signal);
  const generation = deployment.metadata?.generation ?? 0;
  const observed = deployment.status?.observedGeneration;
  if (observed === undefined || observed < generation) {
    return fail(
      `Deployment ${deploymentLabel(request)} is at generation ${generation} but the controller has observed ${observed ?? 'none'}: a rollout is pending`,
    );
  }
  const wanted = deployment.spec?.replicas ?? 1;
  const updated = deployment.status?.updatedReplicas ?? 0;
  const total = deployment.status?.replicas ?? 0;
  if (updated < wanted || total > updated) {
    return fail(
      `Deployment ${deploymentLabel(request)} is still rolling out: ${updated} of ${wanted} replicas updated, ${total} in total`,
    );
  }
  return pass(`Deployment ${deploymentLabel(request)} has finished its rollout (generation ${generation})`);
};

/**
 * revision-in-history: the ReplicaSets the Deployment controls keep the wanted revision (the `revision`
 * param, else the newest one before the current), and it is not the current one.
 */
export const revisionInHistory: Check = async (request, apis, signal) => {
  const deployment = await readDeployment(request, apis, signal);
  const namespace = textParam(request, 'namespace');
  const wanted = optionalInteger(request, 'revision');
  const current = Number(deployment.metadata?.annotations?.[REVISION] ?? Number.NaN);
  const uid = deployment.metadata?.uid;
  const matchLabels = deployment.spec?.selector?.matchLabels ?? {};
  const labelSelector = Object.entries(matchLabels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
  const sets = await listAll(signal, `the ReplicaSets of namespace ${quote(namespace)}`, (page, options) =>
    apis.apps.listNamespacedReplicaSet(
      { namespace, ...(labelSelector !== '' ? { labelSelector } : {}), ...page },
      options,
    ),
  );
  const revisions = sets
    .filter((set) => uid !== undefined && controllerOf(set)?.uid === uid)
    .map((set) => Number(set.metadata?.annotations?.[REVISION]))
    .filter((revision) => Number.isSafeInteger(revision) && revision > 0)
    .sort((a, b) => a - b);
  const kept =
    revisions.length > 0 ? `; kept: ${revisions.join(', ')}` : '; no ReplicaSet with a revision is kept';
  if (!Number.isSafeInteger(current)) {
    return fail(
      `Deployment ${deploymentLabel(request)} has no ${REVISION} annotation: it has no rollout history yet`,
    );
  }
  if (wanted !== undefined) {
    if (wanted === current)
      return fail(
        `revision ${wanted} is the current revision of Deployment ${deploymentLabel(request)}: nothing to undo`,
      );
    return revisions.includes(wanted)
      ? pass(`revision ${wanted} of Deployment ${deploymentLabel(request)} is kept (current ${current})`)
      : fail(`revision ${wanted} of Deployment ${deploymentLabel(request)} is not in its history${kept}`);
  }
  const previous = revisions.filter((revision) => revision < current).pop();
  return previous === undefined
    ? fail(`Deployment ${deploymentLabel(request)} has no revision before the current ${current}${kept}`)
    : pass(`Deployment ${deploymentLabel(request)} would go back from revision ${current} to ${previous}`);
};

/**
 * container-exists for update-image: the pod template has a container of that name (a strategic merge
 * patch with an unknown name would add a container instead of changing one).
 */
export const deploymentContainerExists: Check = async (request, apis, signal) => {
  const deployment = await readDeployment(request, apis, signal);
  const container = textParam(request, 'container');
  const names = (deployment.spec?.template?.spec?.containers ?? []).map((entry) => entry.name);
  return names.includes(container)
    ? pass(`Deployment ${deploymentLabel(request)} has container ${quote(container, 63)}`)
    : fail(
        `Deployment ${deploymentLabel(request)} has no container ${quote(container, 63)}; it has ${nameList(names)}`,
      );
};

/**
 * image-resolvable: an executor talking to the Kubernetes API cannot query an image registry, so this
 * never passes: it warns that the reference was not verified and says whether it is digest-pinned.
 */
export const imageResolvable: Check = async (request) => {
  const image = textParam(request, 'image');
  const pinned = /@sha256:[a-f0-9]{64}$/.test(image);
  const lastSegment = image.split('/').pop() ?? '';
  const tag = lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : undefined;
  const kind = pinned
    ? 'it is pinned by digest'
    : tag === undefined || tag === 'latest'
      ? 'it names no tag or "latest", a mutable reference'
      : `it uses tag ${quote(tag, 128)}, which can be moved`;
  return warn(
    `image ${quote(image, 255)} was not verified: the Kubernetes API cannot check that a registry serves it or that the pull secrets work (${kind})`,
  );
};

// ---------------------------------------------------------------- HorizontalPodAutoscalers

const { read: readHpa, label: hpaLabel } = namespacedObject<V2HorizontalPodAutoscaler>(
  'HorizontalPodAutoscaler',
  'hpa',
  (apis, object, options) => apis.autoscaling.readNamespacedHorizontalPodAutoscaler(object, options),
);

/** hpa-exists: the HorizontalPodAutoscaler can be read. */
export const hpaExists: Check = async (request, apis, signal) => {
  const hpa = await readHpa(request, apis, signal);
  const target = hpa.spec?.scaleTargetRef;
  return pass(
    `HorizontalPodAutoscaler ${hpaLabel(request)} exists (${hpa.spec?.minReplicas ?? 1}-${hpa.spec?.maxReplicas} replicas of ${quote(target?.kind ?? '', 60)} ${quote(target?.name ?? '', 253)})`,
  );
};

/**
 * bounds-ordered: 1 ≤ min ≤ max, a bound left out of the params taken from the HPA as it is now (the
 * merge patch keeps it).
 */
export const boundsOrdered: Check = async (request, apis, signal) => {
  let min = optionalInteger(request, 'min_replicas');
  let max = optionalInteger(request, 'max_replicas');
  let source = 'the params';
  if (min === undefined || max === undefined) {
    const hpa = await readHpa(request, apis, signal);
    min ??= hpa.spec?.minReplicas ?? 1;
    max ??= hpa.spec?.maxReplicas;
    source = 'the params and the HPA as it is';
    if (max === undefined) return fail(`HorizontalPodAutoscaler ${hpaLabel(request)} has no maxReplicas`);
  }
  if (min < 1) return fail(`min_replicas ${min} is below 1, the least an autoscaler can run`);
  return min <= max
    ? pass(`bounds ${min}-${max} are ordered (from ${source})`)
    : fail(`min_replicas ${min} is greater than max_replicas ${max} (from ${source})`);
};

/** some-target-given: at least one of target_cpu_percent and target_memory_percent. */
export const someTargetGiven: Check = async (request) => {
  const cpu = optionalInteger(request, 'target_cpu_percent');
  const memory = optionalInteger(request, 'target_memory_percent');
  if (cpu === undefined && memory === undefined) {
    return fail(
      'give target_cpu_percent, target_memory_percent or both: neither is set, so nothing would change',
    );
  }
  return pass(
    [cpu !== undefined ? `CPU to ${cpu}%` : '', memory !== undefined ? `memory to ${memory}%` : '']
      .filter(Boolean)
      .join(' and ')
      .replace(/^/, 'sets '),
  );
};

/** metric-configured: the HPA has a Resource metric with a Utilization target for each target changed. */
export const metricConfigured: Check = async (request, apis, signal) => {
  const hpa = await readHpa(request, apis, signal);
  const wanted: string[] = [];
  if (optionalInteger(request, 'target_cpu_percent') !== undefined) wanted.push('cpu');
  if (optionalInteger(request, 'target_memory_percent') !== undefined) wanted.push('memory');
  if (wanted.length === 0) return fail('no target is given, so no metric can be checked');
  const missing: string[] = [];
  for (const resource of wanted) {
    const metric = (hpa.spec?.metrics ?? []).find(
      (entry) => entry.type === 'Resource' && entry.resource?.name === resource,
    );
    if (metric === undefined) missing.push(`no ${resource} Resource metric`);
    else if (metric.resource?.target?.type !== 'Utilization') {
      missing.push(
        `its ${resource} metric targets ${quote(metric.resource?.target?.type ?? 'nothing', 40)}, not Utilization`,
      );
    }
  }
  return missing.length > 0
    ? fail(
        `HorizontalPodAutoscaler ${hpaLabel(request)} has ${missing.join(' and ')}: a percentage target cannot be set`,
      )
    : pass(
        `HorizontalPodAutoscaler ${hpaLabel(request)} has a Utilization metric for ${wanted.join(' and ')}`,
      );
};

/** hpa-not-managing: warns when an HPA in the namespace targets the Deployment. */
export const hpaNotManaging: Check = async (request, apis, signal) => {
  const namespace = textParam(request, 'namespace');
  const deployment = textParam(request, 'deployment');
  const hpas = await listAll(
    signal,
    `the HorizontalPodAutoscalers of namespace ${quote(namespace)}`,
    (page, options) =>
      apis.autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace, ...page }, options),
  );
  const managing = hpas.filter(
    (hpa) => hpa.spec?.scaleTargetRef?.kind === 'Deployment' && hpa.spec.scaleTargetRef.name === deployment,
  );
  if (managing.length === 0)
    return pass(`no HorizontalPodAutoscaler targets Deployment ${deploymentLabel(request)}`);
  const names = managing.map(
    (hpa) => `${hpa.metadata?.name ?? ''} (${hpa.spec?.minReplicas ?? 1}-${hpa.spec?.maxReplicas})`,
  );
  return warn(
    `HorizontalPodAutoscaler ${nameList(names)} manages Deployment ${deploymentLabel(request)} and will override the new replica count`,
  );
};

// ---------------------------------------------------------------- ResourceQuota

/** Quota keys that count pods and what one pod adds to them. */
function perPodUsage(template: V1PodTemplateSpec | undefined): Record<string, number | undefined> {
  const requests = podResources(template?.spec, 'requests');
  const limits = podResources(template?.spec, 'limits');
  return {
    pods: 1,
    'count/pods': 1,
    cpu: requests.cpu,
    'requests.cpu': requests.cpu,
    memory: requests.memory,
    'requests.memory': requests.memory,
    'limits.cpu': limits.cpu,
    'limits.memory': limits.memory,
    'requests.ephemeral-storage': requests['ephemeral-storage'],
    'limits.ephemeral-storage': limits['ephemeral-storage'],
  };
}

interface QuotaResult {
  readonly blocked: string[];
  readonly notes: string[];
  readonly counted: number;
}

/** Checks `extra` more pods of `template` against every unscoped quota of the namespace. */
async function checkQuotas(
  apis: KubernetesApis,
  namespace: string,
  template: V1PodTemplateSpec | undefined,
  extra: number,
  signal: AbortSignal,
): Promise<QuotaResult> {
  const quotas: V1ResourceQuota[] = await listAll(
    signal,
    `the ResourceQuotas of namespace ${quote(namespace)}`,
    (page, options) => apis.core.listNamespacedResourceQuota({ namespace, ...page }, options),
  );
  const usage = perPodUsage(template);
  const blocked: string[] = [];
  const notes: string[] = [];
  let counted = 0;
  for (const quota of quotas) {
    const name = quote(quota.metadata?.name ?? '');
    if ((quota.spec?.scopes?.length ?? 0) > 0 || quota.spec?.scopeSelector) {
      notes.push(`scoped quota ${name} not evaluated`);
      continue;
    }
    const hard = quota.status?.hard;
    const used = quota.status?.used;
    if (hard === undefined || used === undefined) {
      blocked.push(`quota ${name} has no status yet (its usage is unknown)`);
      continue;
    }
    counted += 1;
    for (const [key, limitText] of Object.entries(hard)) {
      if (!Object.hasOwn(usage, key)) continue;
      const perPod = usage[key];
      const limit = parseQuantity(limitText);
      const now = parseQuantity(used[key] ?? '0');
      if (limit === undefined || now === undefined) {
        blocked.push(`quota ${name} has an unreadable ${quote(key, 60)}`);
        continue;
      }
      if (perPod === undefined) {
        notes.push(
          `quota ${name} limits ${quote(key, 60)} but the pod template sets none (admission refuses such pods unless a LimitRange gives a default)`,
        );
        continue;
      }
      const after = now + perPod * extra;
      if (after > limit * (1 + 1e-9)) {
        blocked.push(
          `quota ${name} allows ${formatQuantity(key, limit)}, ${formatQuantity(key, now)} used, and ${plural(extra, 'more pod')} need ${formatQuantity(key, perPod * extra)}`,
        );
      }
    }
  }
  return { blocked, notes, counted };
}

/**
 * quota-allows. scale-deployment: scaling up must fit every unscoped ResourceQuota (fail otherwise).
 * scale-hpa: max_replicas pods of the target must fit (a warning otherwise: the HPA simply cannot
 * reach its ceiling).
 */
export const quotaAllows: Check = async (request, apis, signal) => {
  const namespace = textParam(request, 'namespace');
  let template: V1PodTemplateSpec | undefined;
  let extra: number;
  let subject: string;
  const hpaAction = request.action.name === 'scale-hpa';
  if (hpaAction) {
    const hpa = await readHpa(request, apis, signal);
    const max = integerParam(request, 'max_replicas');
    const target = hpa.spec?.scaleTargetRef;
    if (target?.kind !== 'Deployment') {
      return warn(
        `the quota was not checked: HorizontalPodAutoscaler ${hpaLabel(request)} targets ${quote(target?.kind ?? 'nothing', 60)}, and only Deployment targets are evaluated`,
      );
    }
    const deployment = await read(signal, `Deployment ${quote(`${namespace}/${target.name}`)}`, (options) =>
      apis.apps.readNamespacedDeployment({ name: target.name, namespace }, options),
    );
    template = deployment.spec?.template;
    const current = deployment.spec?.replicas ?? 1;
    extra = max - current;
    subject = `raising Deployment ${quote(target.name)} from ${current} to max_replicas ${max}`;
  } else {
    const deployment = await readDeployment(request, apis, signal);
    const replicas = integerParam(request, 'replicas');
    const current = deployment.spec?.replicas ?? 1;
    extra = replicas - current;
    template = deployment.spec?.template;
    subject = `scaling Deployment ${deploymentLabel(request)} from ${current} to ${replicas}`;
    if (extra <= 0) return pass(`${subject} adds no pods`);
  }
  if (extra <= 0) return pass(`${subject} adds no pods`);
  const { blocked, notes, counted } = await checkQuotas(apis, namespace, template, extra, signal);
  const tail = notes.length > 0 ? ` (${notes.join('; ')})` : '';
  if (blocked.length > 0) {
    const reason = `${subject} exceeds the namespace's quota: ${blocked.join('; ')}${tail}`;
    return hpaAction ? warn(reason) : fail(reason);
  }
  if (notes.length > 0) return warn(`${subject}: ${notes.join('; ')}`);
  return pass(
    counted === 0
      ? `namespace ${quote(namespace)} has no ResourceQuota`
      : `${subject} fits ${plural(counted, 'ResourceQuota')}`,
  );
};
