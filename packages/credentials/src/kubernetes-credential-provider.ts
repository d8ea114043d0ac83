import {
  AgentSafeError,
  type Clock,
  Credential,
  type CredentialProvider,
  type CredentialRequest,
  escapeForTerminal,
  systemClock,
} from '@agent-safe/core';
import type { KubernetesApiResponse, KubernetesCredentialApi } from './kubernetes-api.js';
import { DNS1123_LABEL } from './kubernetes-syntax.js';
import {
  type KubernetesCredentialPlan,
  type PlannedObject,
  kubernetesCredentialPlan,
} from './kubernetes-plan.js';

/** Material of a Kubernetes credential: the bearer token the executor's client uses. */
export interface KubernetesCredentialMaterial {
  readonly token: string;
}

/** Options of {@link KubernetesCredentialProvider}. */
export interface KubernetesCredentialProviderOptions {
  /** Client acting as the runner's own identity, which may manage ServiceAccounts, Roles and bindings. */
  readonly api: KubernetesCredentialApi;
  /** Namespace the ServiceAccounts are created in. */
  readonly namespace: string;
  readonly namePrefix?: string;
  readonly audiences?: readonly string[];
  readonly clock?: Clock;
}

const RBAC_PATH = '/apis/rbac.authorization.k8s.io/v1';
const LABEL_CREDENTIAL = 'agent-safe.dev/credential';

/** API path of the collection a planned object is created in. */
function collectionPath(object: PlannedObject): string {
  const namespace = object.metadata.namespace;
  switch (object.kind) {
    case 'ServiceAccount':
      return `/api/v1/namespaces/${namespace}/serviceaccounts`;
    case 'Role':
      return `${RBAC_PATH}/namespaces/${namespace}/roles`;
    case 'RoleBinding':
      return `${RBAC_PATH}/namespaces/${namespace}/rolebindings`;
    case 'ClusterRole':
      return `${RBAC_PATH}/clusterroles`;
    case 'ClusterRoleBinding':
      return `${RBAC_PATH}/clusterrolebindings`;
    default:
      throw new AgentSafeError('INTERNAL', `No API path for ${object.kind}`);
  }
}

function objectPath(object: PlannedObject): string {
  return `${collectionPath(object)}/${object.metadata.name}`;
}

function describe(object: PlannedObject): string {
  const namespace = object.metadata.namespace;
  return `${object.kind} ${namespace === undefined ? '' : `${namespace}/`}${object.metadata.name}`;
}

/** The server's own reason (a Status message), shortened and made safe to print. Never holds a token. */
function serverReason(response: KubernetesApiResponse): string {
  const body = response.body as { message?: unknown } | undefined;
  const message = typeof body?.message === 'string' ? body.message : '';
  return `HTTP ${response.status}${message === '' ? '' : `: ${escapeForTerminal(message.slice(0, 300))}`}`;
}

/**
 * Makes Kubernetes credentials really scoped and short-lived: for each request it creates a
 * ServiceAccount, the Role(s) and RoleBinding(s) of {@link kubernetesCredentialPlan}, and mints a token
 * with the TokenRequest API (at least 600 s: Kubernetes' minimum). `revoke` deletes the bindings first
 * (the rights go at once), then the ServiceAccount (the token stops authenticating once the API server's
 * token cache expires, about 10 s) and the roles. A failure half-way deletes
 * what was created. The token is only in the returned handle's material, never in an error.
 */
export class KubernetesCredentialProvider implements CredentialProvider<KubernetesCredentialMaterial> {
  readonly type = 'kubernetes';
  readonly #options: KubernetesCredentialProviderOptions;
  readonly #clock: Clock;
  readonly #plans = new Map<string, KubernetesCredentialPlan>();

  constructor(options: KubernetesCredentialProviderOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  async issue(request: CredentialRequest): Promise<Credential<KubernetesCredentialMaterial>> {
    const plan = kubernetesCredentialPlan(request.scope, {
      requestId: request.requestId,
      namespace: this.#options.namespace,
      ttlSeconds: request.ttlSeconds,
      action: request.action,
      ...(this.#options.namePrefix === undefined ? {} : { namePrefix: this.#options.namePrefix }),
      ...(this.#options.audiences === undefined ? {} : { audiences: this.#options.audiences }),
    });
    const created: PlannedObject[] = [];
    let token: string;
    let expiresAt: number;
    const issuedAt = this.#clock.now();
    try {
      for (const object of [plan.serviceAccount, ...plan.roles, ...plan.roleBindings]) {
        const response = await this.#options.api.request('POST', collectionPath(object), object);
        if (response.status === 409) {
          throw new AgentSafeError(
            'INPUT_INVALID',
            `A credential for request ${request.requestId} already exists (${describe(object)}); each request gets one credential`,
            { details: { action: request.action, requestId: request.requestId } },
          );
        }
        if (response.status < 200 || response.status > 299) {
          throw new AgentSafeError(
            'INTERNAL',
            `Creating ${describe(object)} for ${request.action} failed (${serverReason(response)}); the runner's identity needs rights to manage credential objects`,
            { details: { action: request.action, requestId: request.requestId } },
          );
        }
        created.push(object);
      }
      const response = await this.#options.api.request(
        'POST',
        `${objectPath(plan.serviceAccount)}/token`,
        plan.tokenRequest,
      );
      const status = (
        response.body as { status?: { token?: unknown; expirationTimestamp?: unknown } } | undefined
      )?.status;
      if (
        response.status < 200 ||
        response.status > 299 ||
        typeof status?.token !== 'string' ||
        status.token === ''
      ) {
        // The body is not quoted: on success it would hold the token.
        throw new AgentSafeError(
          'INTERNAL',
          `The TokenRequest for ${describe(plan.serviceAccount)} failed (HTTP ${response.status})`,
          { details: { action: request.action, requestId: request.requestId } },
        );
      }
      token = status.token;
      const serverExpiry =
        typeof status.expirationTimestamp === 'string' ? Date.parse(status.expirationTimestamp) : Number.NaN;
      const planned = issuedAt + plan.ttlSeconds * 1000;
      // The server may shorten the token; the handle never outlives it.
      expiresAt = Number.isFinite(serverExpiry) ? Math.min(serverExpiry, planned) : planned;
    } catch (error) {
      await this.#deleteAll(created.reverse());
      throw error;
    }
    const id = `${this.#options.namespace}/${plan.name}`;
    this.#plans.set(id, plan);
    return new Credential<KubernetesCredentialMaterial>({
      kind: 'kubernetes-token',
      id,
      issuedAt,
      expiresAt,
      material: Object.freeze({ token }),
      clock: this.#clock,
      notes: plan.notes,
    });
  }

  /**
   * Deletes the bindings (the rights go at once), the ServiceAccount (the token stops authenticating) and
   * the roles. A credential issued by another process is found by its label. The handle is invalidated
   * first, whatever the server answers. Throws `INTERNAL` listing the objects
   * that could not be deleted; 404 counts as deleted. Idempotent.
   */
  async revoke(credential: Credential<KubernetesCredentialMaterial>): Promise<void> {
    credential.invalidate();
    const plan = this.#plans.get(credential.id) ?? (await this.#rediscover(credential.id));
    if (plan === undefined) return;
    // Bindings first: that takes the rights away at once. Deleting the ServiceAccount then makes the
    // token fail authentication (after the API server's token cache, about 10 s).
    const objects = [...plan.roleBindings, plan.serviceAccount, ...plan.roles];
    const failures = await this.#deleteAll(objects);
    if (failures.length > 0) {
      throw new AgentSafeError(
        'INTERNAL',
        `Revoking credential ${credential.id} left objects behind: ${failures.join('; ')}`,
        {
          details: { credential: credential.id },
        },
      );
    }
    this.#plans.delete(credential.id);
  }

  /**
   * The objects of a credential this process did not issue (the runner restarted), found by the label
   * every planned object carries. Needs `list` on RoleBindings and Roles cluster-wide.
   */
  async #rediscover(
    id: string,
  ): Promise<Pick<KubernetesCredentialPlan, 'serviceAccount' | 'roles' | 'roleBindings'> | undefined> {
    const [namespace, name, extra] = id.split('/');
    if (
      extra !== undefined ||
      namespace !== this.#options.namespace ||
      name === undefined ||
      !DNS1123_LABEL.test(name)
    ) {
      return undefined;
    }
    const stub = (kind: string, objectNamespace?: string): PlannedObject => ({
      apiVersion: kind === 'ServiceAccount' ? 'v1' : 'rbac.authorization.k8s.io/v1',
      kind,
      metadata: {
        name,
        ...(objectNamespace === undefined ? {} : { namespace: objectNamespace }),
        labels: {},
        annotations: {},
      },
    });
    const selector = `?labelSelector=${encodeURIComponent(`${LABEL_CREDENTIAL}=${name}`)}`;
    const namespacesOf = async (plural: string): Promise<string[]> => {
      const response = await this.#options.api.request('GET', `${RBAC_PATH}/${plural}${selector}`);
      if (response.status < 200 || response.status > 299) {
        throw new AgentSafeError(
          'INTERNAL',
          `Listing ${plural} of credential ${id} failed (${serverReason(response)})`,
        );
      }
      const items =
        (response.body as { items?: { metadata?: { namespace?: unknown } }[] } | undefined)?.items ?? [];
      return items
        .map((item) => item.metadata?.namespace)
        .filter((value): value is string => typeof value === 'string');
    };
    const bindingNamespaces = await namespacesOf('rolebindings');
    const roleNamespaces = await namespacesOf('roles');
    return {
      serviceAccount: stub('ServiceAccount', namespace),
      roleBindings: [...bindingNamespaces.map((ns) => stub('RoleBinding', ns)), stub('ClusterRoleBinding')],
      roles: [...roleNamespaces.map((ns) => stub('Role', ns)), stub('ClusterRole')],
    };
  }

  /** The plan behind a credential this provider issued and has not revoked (non-secret). */
  planOf(credential: Credential<KubernetesCredentialMaterial>): KubernetesCredentialPlan | undefined {
    return this.#plans.get(credential.id);
  }

  async #deleteAll(objects: readonly PlannedObject[]): Promise<string[]> {
    const failures: string[] = [];
    for (const object of objects) {
      try {
        const response = await this.#options.api.request('DELETE', objectPath(object));
        if (response.status !== 404 && (response.status < 200 || response.status > 299)) {
          failures.push(`${describe(object)} (${serverReason(response)})`);
        }
      } catch (error) {
        failures.push(`${describe(object)} (${error instanceof Error ? error.message : 'unreachable'})`);
      }
    }
    return failures;
  }
}
