import { createHash } from 'node:crypto';
import { AgentSafeError, type RenderedCredentialScope, unsafeIdReason } from '@agent-safe/core';
import { DNS1123_LABEL_MAX, NAMELESS_VERBS, dns1123LabelProblem } from './kubernetes-syntax.js';

/** Kubernetes refuses TokenRequests shorter than 10 minutes. */
export const KUBERNETES_MIN_TOKEN_TTL_SECONDS = 600;
/** Longest token this plan asks for (a day); the API server may shorten it further. */
export const KUBERNETES_MAX_TOKEN_TTL_SECONDS = 86_400;

const RBAC = 'rbac.authorization.k8s.io/v1';
const MANAGED_BY = 'agent-safe';
const LABEL_CREDENTIAL = 'agent-safe.dev/credential';
const ANNOTATION_ACTION = 'agent-safe.dev/action';
const ANNOTATION_REQUEST = 'agent-safe.dev/request-id';
const NAME_PREFIX_MAX = 30;
const HASH_LENGTH = 12;

/** Options of {@link kubernetesCredentialPlan}. */
export interface KubernetesCredentialPlanOptions {
  /** Id of the request (decision audit id or ticket id); names are derived from it. */
  readonly requestId: string;
  /** Namespace the ServiceAccount is created in (the runner's own; not one the agent acts on). */
  readonly namespace: string;
  /** Start of every object name; a DNS-1123 label of at most 30 characters. Default `agent-safe`. */
  readonly namePrefix?: string;
  /** Lifetime asked for; defaults to the scope's ttl. Raised to 600 s, Kubernetes' minimum. */
  readonly ttlSeconds?: number;
  /** `name@version` of the action, recorded as an annotation. */
  readonly action?: string;
  /** Audiences of the token; default: the API server's. */
  readonly audiences?: readonly string[];
}

/** One RBAC policy rule. */
export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames?: readonly string[];
}

/** Metadata every planned object carries. */
export interface PlannedMetadata {
  readonly name: string;
  readonly namespace?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** A Kubernetes object as the plan would create it (plain JSON, ready for the API). */
export interface PlannedObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: PlannedMetadata;
  readonly [key: string]: unknown;
}

/** What {@link kubernetesCredentialPlan} returns: every object to create, in order, and how to revoke. */
export interface KubernetesCredentialPlan {
  /** The derived name shared by the ServiceAccount, Roles and RoleBindings. */
  readonly name: string;
  readonly serviceAccount: PlannedObject;
  /**
   * One Role per namespace of the scope; when the scope names no namespace, one ClusterRole (the
   * resources are cluster-scoped, like nodes, or the action works across namespaces, like drain).
   */
  readonly roles: readonly PlannedObject[];
  readonly roleBindings: readonly PlannedObject[];
  /** Body of `POST /api/v1/namespaces/{namespace}/serviceaccounts/{name}/token`. */
  readonly tokenRequest: PlannedObject & {
    readonly spec: { readonly expirationSeconds: number; readonly audiences?: readonly string[] };
  };
  readonly requestedTtlSeconds: number;
  /** The ttl the TokenRequest asks for, after clamping. The server's `expirationTimestamp` is the truth. */
  readonly ttlSeconds: number;
  readonly clusterScoped: boolean;
  /**
   * Create in this order. Revoke in `deleteOrder`: bindings first (the rights go at once), then the
   * ServiceAccount (its tokens stop authenticating once the API server's token cache expires), then roles.
   */
  readonly createOrder: readonly string[];
  readonly deleteOrder: readonly string[];
  /** Facts worth recording, e.g. a clamped ttl. Never secrets. */
  readonly notes: readonly string[];
}

/**
 * The objects a Kubernetes credential for one request consists of: a ServiceAccount in the runner's
 * namespace, a Role (rules from the scope) and a RoleBinding in each namespace of the scope (or a
 * ClusterRole and ClusterRoleBinding when it names none), and the TokenRequest body that mints the
 * token. Pure: makes no call. The ttl is clamped to Kubernetes' minimum of 600 s (the plan's `notes`
 * say so) and at most a day. Names are `<prefix>-<slug of the request id>-<12 hex of its SHA-256>`:
 * deterministic, a DNS-1123 label, at most 63 characters, distinct for distinct request ids.
 */
export function kubernetesCredentialPlan(
  scope: RenderedCredentialScope,
  options: KubernetesCredentialPlanOptions,
): KubernetesCredentialPlan {
  if (scope.type !== 'kubernetes') {
    throw new AgentSafeError(
      'USAGE',
      `A Kubernetes credential plan needs a kubernetes scope, got "${scope.type}"`,
    );
  }
  const namespaceProblem = dns1123LabelProblem(options.namespace);
  if (namespaceProblem !== undefined) {
    throw new AgentSafeError('USAGE', `The credential namespace ${namespaceProblem}`, {
      details: { field: 'namespace' },
    });
  }
  const name = credentialObjectName(options.requestId, options.namePrefix);
  const requested = options.ttlSeconds ?? scope.ttl;
  if (!Number.isSafeInteger(requested) || requested < 1) {
    throw new AgentSafeError('USAGE', 'ttlSeconds must be a positive whole number of seconds', {
      details: { field: 'ttlSeconds' },
    });
  }
  const notes: string[] = [];
  let ttl = requested;
  if (ttl < KUBERNETES_MIN_TOKEN_TTL_SECONDS) {
    ttl = KUBERNETES_MIN_TOKEN_TTL_SECONDS;
    notes.push(
      `ttl ${requested} s raised to ${KUBERNETES_MIN_TOKEN_TTL_SECONDS} s, the shortest token Kubernetes issues; the credential is still revoked as soon as the action ends`,
    );
  } else if (ttl > KUBERNETES_MAX_TOKEN_TTL_SECONDS) {
    ttl = KUBERNETES_MAX_TOKEN_TTL_SECONDS;
    notes.push(
      `ttl ${requested} s lowered to ${KUBERNETES_MAX_TOKEN_TTL_SECONDS} s, the longest this plan asks for`,
    );
  }
  const field = (key: string): readonly string[] => scope.fields[key] ?? [];
  const verbs = field('verbs');
  const resources = field('resources');
  const apiGroups = field('api_groups');
  if (verbs.length === 0 || resources.length === 0 || apiGroups.length === 0) {
    throw new AgentSafeError(
      'USAGE',
      'The scope must list verbs, resources and api_groups (render it with renderScope)',
    );
  }
  const rules = policyRules(apiGroups, resources, verbs, field('resource_names'), field('unnamed_verbs'));
  notes.push(...rules.notes);
  const labels = { 'app.kubernetes.io/managed-by': MANAGED_BY, [LABEL_CREDENTIAL]: name };
  const annotations: Record<string, string> = { [ANNOTATION_REQUEST]: options.requestId };
  if (options.action !== undefined) annotations[ANNOTATION_ACTION] = options.action;
  const metadata = (namespace?: string): PlannedMetadata => ({
    name,
    ...(namespace === undefined ? {} : { namespace }),
    labels: { ...labels },
    annotations: { ...annotations },
  });
  const subject = { kind: 'ServiceAccount', name, namespace: options.namespace };
  const namespaces = field('namespaces');
  const clusterScoped = namespaces.length === 0;
  const roles: PlannedObject[] = [];
  const roleBindings: PlannedObject[] = [];
  if (clusterScoped) {
    roles.push({ apiVersion: RBAC, kind: 'ClusterRole', metadata: metadata(), rules: rules.rules });
    roleBindings.push({
      apiVersion: RBAC,
      kind: 'ClusterRoleBinding',
      metadata: metadata(),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [subject],
    });
  } else {
    for (const namespace of namespaces) {
      roles.push({ apiVersion: RBAC, kind: 'Role', metadata: metadata(namespace), rules: rules.rules });
      roleBindings.push({
        apiVersion: RBAC,
        kind: 'RoleBinding',
        metadata: metadata(namespace),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [subject],
      });
    }
  }
  const describe = (object: PlannedObject): string =>
    `${object.kind} ${object.metadata.namespace === undefined ? '' : `${object.metadata.namespace}/`}${object.metadata.name}`;
  const serviceAccount: PlannedObject = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: metadata(options.namespace),
  };
  return {
    name,
    serviceAccount,
    roles,
    roleBindings,
    tokenRequest: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      metadata: metadata(options.namespace),
      spec: {
        expirationSeconds: ttl,
        ...(options.audiences === undefined ? {} : { audiences: [...options.audiences] }),
      },
    },
    requestedTtlSeconds: requested,
    ttlSeconds: ttl,
    clusterScoped,
    createOrder: [serviceAccount, ...roles, ...roleBindings]
      .map(describe)
      .concat(`TokenRequest for ServiceAccount ${options.namespace}/${name}`),
    deleteOrder: [...roleBindings, serviceAccount, ...roles].map(describe),
    notes,
  };
}

/**
 * The RBAC rules of a scope. Without `resource_names`: one rule, the cross product of groups, resources
 * and verbs. With them: one rule restricted to those names (every verb, every resource: a request that
 * names no object simply does not match it), plus — only for verbs listed under `unnamed_verbs` — one
 * rule on the top-level resources without names, because Kubernetes authorizes `create` (POST to the
 * collection), `list`, `watch` and `deletecollection` without an object name. A nameless verb not listed
 * there stays restricted (it then works only where the request names the object: subresources such as
 * `pods/exec` or `pods/eviction`, server-side apply, a list with `fieldSelector=metadata.name=…`), and the
 * notes say so.
 */
function policyRules(
  apiGroups: readonly string[],
  resources: readonly string[],
  verbs: readonly string[],
  resourceNames: readonly string[],
  unnamedVerbs: readonly string[],
): { rules: PolicyRule[]; notes: string[] } {
  if (resourceNames.length === 0) {
    if (unnamedVerbs.length > 0) {
      throw new AgentSafeError('USAGE', 'unnamed_verbs only applies together with resource_names');
    }
    return {
      rules: [{ apiGroups: [...apiGroups], resources: [...resources], verbs: [...verbs] }],
      notes: [],
    };
  }
  const topLevel = resources.filter((resource) => !resource.includes('/'));
  const unnamed = unnamedVerbs.filter((verb) => NAMELESS_VERBS.has(verb) && verbs.includes(verb));
  if (unnamed.length !== unnamedVerbs.length || (unnamed.length > 0 && topLevel.length === 0)) {
    throw new AgentSafeError(
      'USAGE',
      'unnamed_verbs must list only verbs under verbs that Kubernetes authorizes without a name (create, list, watch, deletecollection), on a scope with a top-level resource',
    );
  }
  const notes: string[] = [];
  const rules: PolicyRule[] = [];
  // A verb granted without names on the top-level resources still needs the named rule for subresources.
  const named = verbs.filter((verb) => !unnamed.includes(verb) || topLevel.length < resources.length);
  if (named.length > 0) {
    rules.push({
      apiGroups: [...apiGroups],
      resources: [...resources],
      verbs: named,
      resourceNames: [...resourceNames],
    });
  }
  if (unnamed.length > 0) {
    rules.push({ apiGroups: [...apiGroups], resources: topLevel, verbs: unnamed });
    notes.push(
      `${unnamed.join(', ')} on ${topLevel.join(', ')} granted without resource names (Kubernetes authorizes them without an object name; listed under unnamed_verbs)`,
    );
  }
  const restricted = verbs.filter((verb) => NAMELESS_VERBS.has(verb) && !unnamed.includes(verb));
  if (restricted.length > 0 && topLevel.length > 0) {
    notes.push(
      `${restricted.join(', ')} on ${topLevel.join(', ')} only where the request names one of the resource names (not on the collection); list the verb under unnamed_verbs if the action needs it there`,
    );
  }
  return { rules, notes };
}

/**
 * The name of a credential's objects, derived from the request id: `<prefix>-<slug>-<hash>`, where the
 * slug keeps the id's lowercase letters and digits (for people reading `kubectl get sa`) and the hash
 * (first 12 hex of SHA-256 of the id) keeps distinct ids apart. Always a DNS-1123 label of ≤ 63 chars.
 */
export function credentialObjectName(requestId: string, namePrefix = 'agent-safe'): string {
  const idProblem = typeof requestId === 'string' ? unsafeIdReason(requestId) : 'must be a string';
  if (idProblem !== undefined) {
    throw new AgentSafeError('USAGE', `The request id ${idProblem}`, { details: { field: 'requestId' } });
  }
  const prefixProblem =
    namePrefix.length > NAME_PREFIX_MAX
      ? `is longer than ${NAME_PREFIX_MAX} characters`
      : dns1123LabelProblem(namePrefix);
  if (prefixProblem !== undefined) {
    throw new AgentSafeError('USAGE', `The name prefix ${prefixProblem}`, {
      details: { field: 'namePrefix' },
    });
  }
  const hash = createHash('sha256').update(requestId, 'utf8').digest('hex').slice(0, HASH_LENGTH);
  const room = DNS1123_LABEL_MAX - namePrefix.length - HASH_LENGTH - 2;
  const slug = requestId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, Math.max(0, room))
    .replace(/^-+|-+$/g, '');
  return slug === '' ? `${namePrefix}-${hash}` : `${namePrefix}-${slug}-${hash}`;
}
