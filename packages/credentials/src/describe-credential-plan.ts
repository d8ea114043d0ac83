import { type ActionDefinition, AgentSafeError, actionRef } from '@agent-safe/core';
import { type PlannedObject, kubernetesCredentialPlan } from './kubernetes-plan.js';
import { renderScope } from './render-scope.js';
import { type AwsPolicyDocument, awsSessionPolicy } from './aws-session-policy.js';
import { AWS_REVOKE_POLICY_NAME, awsSessionDuration, awsSessionName } from './sts-credential-provider.js';

/** Options of {@link describeCredentialPlan}. */
export interface DescribeCredentialPlanOptions {
  /** Kubernetes: namespace the provider creates its ServiceAccounts in (the runner's own). Required there. */
  readonly namespace?: string;
  /** AWS: the role the STS provider assumes (shown in the plan; null when not given). */
  readonly roleArn?: string;
  /** AWS: start of the session name (as the provider's `sessionNamePrefix`); default `agent-safe`. */
  readonly sessionNamePrefix?: string;
  /** Start of every object name (as the provider's `namePrefix`); default `agent-safe`. */
  readonly namePrefix?: string;
  /** Id the credential would be named after (the decision's audit id, as the runner uses). */
  readonly requestId: string;
}

/** One object the Kubernetes provider would create, as plain JSON (no secret: tokens are minted later). */
export interface DescribedCredentialObject {
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  /** Role / ClusterRole: the RBAC rules. */
  readonly rules?: readonly unknown[];
  /** RoleBinding / ClusterRoleBinding: the role bound and to whom. */
  readonly roleRef?: unknown;
  readonly subjects?: readonly unknown[];
  /** TokenRequest: the lifetime asked for. */
  readonly expirationSeconds?: number;
}

/** What {@link describeCredentialPlan} returns: JSON-able and free of secrets. */
export interface CredentialPlanDescription {
  /** `name@version`. */
  readonly action: string;
  /** The block's `type`, or null when the action declares no credentials. */
  readonly type: string | null;
  /** The rendered scope (values validated for kubernetes), or null without a block. */
  readonly scope: {
    readonly type: string;
    readonly fields: Readonly<Record<string, readonly string[]>>;
    readonly ttl: number;
  } | null;
  /** Lifetime the block asks for and the one the provider would ask Kubernetes for (null: not planned). */
  readonly ttl: { readonly requestedSeconds: number; readonly grantedSeconds: number } | null;
  /** The objects the Kubernetes provider would create, in creation order ([] for other types). */
  readonly objects: readonly DescribedCredentialObject[];
  /** Revocation order (`Kind namespace/name`). */
  readonly deleteOrder: readonly string[];
  /** Facts worth reading: a clamped ttl, verbs granted without names, why nothing is planned. */
  readonly notes: readonly string[];
  /** AWS: the STS session the provider would open (absent for other types). */
  readonly session?: {
    readonly roleArn: string | null;
    readonly sessionName: string;
    readonly durationSeconds: number;
    /** The inline session policy AssumeRole would be given. */
    readonly policy: AwsPolicyDocument;
    /** How revoke works for this session. */
    readonly revoke: string;
  };
}

/** Shown instead of a value that came from a param marked `sensitive`. */
const MASKED = '[masked: sensitive param]';

/** A whole-value template (as renderScope accepts it). */
const TEMPLATE = /^\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/;

/**
 * What resolving the credential of one request would do, without doing it (for `agent-safe credential
 * resolve`): the scope rendered from `params` exactly as the runner renders it (`renderScope`, so a bad
 * param or block throws the same `PARAMS_INVALID` / `CONFIG_INVALID`), the ttl asked for and granted
 * (raised to Kubernetes' 600 s minimum), and the ServiceAccount, Role(s), RoleBinding(s) and
 * TokenRequest the Kubernetes provider would create, with their rules. For `aws`: the session policy
 * (`awsSessionPolicy`), the duration asked for and granted (raised to STS's 900 s minimum), the role
 * (`options.roleArn`) and the session name, in `session`. Makes no call and holds no secret; values of
 * params marked `sensitive` are masked (inside ARNs too). For another type, the block's templates are
 * filled in without syntax checks and nothing is planned (a note says so).
 */
export function describeCredentialPlan(
  action: ActionDefinition,
  params: Readonly<Record<string, unknown>>,
  options: DescribeCredentialPlanOptions,
): CredentialPlanDescription {
  const ref = actionRef(action);
  const block = action.credentials;
  const mask = sensitiveValues(action, params);
  if (block === null || block === undefined) {
    return {
      action: ref,
      type: null,
      scope: null,
      ttl: null,
      objects: [],
      deleteOrder: [],
      notes: ['the action declares no credentials block: the runner resolves no credential for it'],
    };
  }
  if (block.type === 'aws') {
    const scope = renderScope(action, params)!;
    const policy = awsSessionPolicy(scope);
    const duration = awsSessionDuration(scope.ttl);
    const sessionName = awsSessionName(options.requestId, options.sessionNamePrefix);
    const maskedFields: Record<string, readonly string[]> = {};
    for (const [field, values] of Object.entries(scope.fields)) {
      maskedFields[field] = values.map((value) => maskInside(value, mask));
    }
    return {
      action: ref,
      type: 'aws',
      scope: { type: scope.type, fields: maskedFields, ttl: scope.ttl },
      ttl: { requestedSeconds: scope.ttl, grantedSeconds: duration.seconds },
      objects: [],
      deleteOrder: [],
      notes: [
        ...(duration.note === undefined ? [] : [duration.note]),
        `revoke adds the session's aws:userid (<roleId>:${sessionName}) to the Deny policy ${AWS_REVOKE_POLICY_NAME} on the role`,
      ],
      session: {
        roleArn: options.roleArn ?? null,
        sessionName,
        durationSeconds: duration.seconds,
        policy: maskDeepInside(policy, mask) as AwsPolicyDocument,
        revoke: `inline Deny of every action for aws:userid <roleId>:${sessionName} in ${AWS_REVOKE_POLICY_NAME} (sessions cannot be deleted)`,
      },
    };
  }
  if (block.type !== 'kubernetes') {
    const fields: Record<string, readonly string[]> = {};
    for (const [field, raw] of Object.entries(block.fields)) {
      if (!Array.isArray(raw)) continue;
      fields[field] = raw.map((entry: unknown) => {
        if (typeof entry !== 'string') return String(entry);
        const template = TEMPLATE.exec(entry);
        const value = template ? params[template[1]!] : undefined;
        return typeof value === 'string' ? maskValue(value, mask) : entry;
      });
    }
    return {
      action: ref,
      type: block.type,
      scope: { type: block.type, fields, ttl: block.ttl },
      ttl: null,
      objects: [],
      deleteOrder: [],
      notes: [
        `credentials type "${block.type}" has no renderer or provider here: templates filled in without syntax checks, nothing planned`,
      ],
    };
  }
  if (typeof options.namespace !== 'string' || options.namespace === '') {
    throw new AgentSafeError(
      'USAGE',
      `Action ${ref}: describing a kubernetes credential plan needs the provider's namespace`,
      {
        details: { field: 'namespace' },
      },
    );
  }
  const scope = renderScope(action, params)!;
  const plan = kubernetesCredentialPlan(scope, {
    requestId: options.requestId,
    namespace: options.namespace,
    action: ref,
    ...(options.namePrefix === undefined ? {} : { namePrefix: options.namePrefix }),
  });
  const objects: DescribedCredentialObject[] = [plan.serviceAccount, ...plan.roles, ...plan.roleBindings].map(
    describeObject,
  );
  objects.push({
    kind: 'TokenRequest',
    name: plan.serviceAccount.metadata.name,
    ...(plan.serviceAccount.metadata.namespace === undefined
      ? {}
      : { namespace: plan.serviceAccount.metadata.namespace }),
    expirationSeconds: plan.tokenRequest.spec.expirationSeconds,
  });
  const maskedFields: Record<string, readonly string[]> = {};
  for (const [field, values] of Object.entries(scope.fields)) {
    maskedFields[field] = values.map((value) => maskValue(value, mask));
  }
  return {
    action: ref,
    type: 'kubernetes',
    scope: { type: scope.type, fields: maskedFields, ttl: scope.ttl },
    ttl: { requestedSeconds: plan.requestedTtlSeconds, grantedSeconds: plan.ttlSeconds },
    objects: objects.map((object) => maskDeep(object, mask) as DescribedCredentialObject),
    deleteOrder: plan.deleteOrder,
    notes: plan.notes,
  };
}

function describeObject(object: PlannedObject): DescribedCredentialObject {
  const { kind, metadata } = object;
  return {
    kind,
    name: metadata.name,
    ...(metadata.namespace === undefined ? {} : { namespace: metadata.namespace }),
    ...(Array.isArray(object.rules) ? { rules: object.rules } : {}),
    ...(object.roleRef === undefined ? {} : { roleRef: object.roleRef }),
    ...(Array.isArray(object.subjects) ? { subjects: object.subjects } : {}),
  };
}

function sensitiveValues(action: ActionDefinition, params: Readonly<Record<string, unknown>>): Set<string> {
  const values = new Set<string>();
  for (const parameter of action.parameters) {
    const value = Object.hasOwn(params, parameter.name) ? params[parameter.name] : undefined;
    if (parameter.sensitive && typeof value === 'string' && value !== '') values.add(value);
  }
  return values;
}

/** Templates are whole values, so a sensitive param's value appears only as a whole value. */
function maskValue(value: string, mask: ReadonlySet<string>): string {
  return mask.has(value) ? MASKED : value;
}

/** AWS templates sit inside ARNs, so a sensitive value is masked wherever it occurs in a string. */
function maskInside(value: string, mask: ReadonlySet<string>): string {
  let out = value;
  for (const secret of mask) out = out.split(secret).join(MASKED);
  return out;
}

function maskDeepInside(value: unknown, mask: ReadonlySet<string>): unknown {
  if (mask.size === 0) return value;
  if (typeof value === 'string') return maskInside(value, mask);
  if (Array.isArray(value)) return value.map((entry) => maskDeepInside(entry, mask));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, entry]) => [key, maskDeepInside(entry, mask)]),
    );
  }
  return value;
}

function maskDeep(value: unknown, mask: ReadonlySet<string>): unknown {
  if (mask.size === 0) return value;
  if (typeof value === 'string') return maskValue(value, mask);
  if (Array.isArray(value)) return value.map((entry) => maskDeep(entry, mask));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, maskDeep(entry, mask)]));
  }
  return value;
}
