/**
 * Kubernetes name and RBAC syntax, checked on every value that goes into a credential scope. The
 * patterns are ASCII-only on purpose: Unicode lookalikes (Cyrillic `а`, fullwidth letters) never match.
 */

/** A DNS-1123 label: namespaces, ServiceAccount and most object names. At most 63 characters. */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_LABEL_MAX = 63;

/** A DNS-1123 subdomain: API groups, resource names of most kinds. At most 253 characters. */
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const DNS1123_SUBDOMAIN_MAX = 253;

/** A resource as RBAC names it: a lowercase plural, optionally `/subresource` (`pods/eviction`). */
const RESOURCE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\/[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/;

/** Verbs a just-in-time credential may carry. */
export const KUBERNETES_VERBS: ReadonlySet<string> = new Set([
  'get',
  'list',
  'watch',
  'create',
  'update',
  'patch',
  'delete',
  'deletecollection',
]);

/**
 * Verbs whose requests Kubernetes authorizes without an object name when made on a resource itself
 * (`POST` to a collection, list, watch, delete of a collection): a rule's `resourceNames` never matches
 * them. On a subresource (`pods/exec`, `pods/eviction`, `deployments/scale`) every request names the
 * parent object, and server-side apply names the object it creates, so those are restricted by name.
 */
export const NAMELESS_VERBS: ReadonlySet<string> = new Set(['create', 'list', 'watch', 'deletecollection']);

/**
 * RBAC verbs that grant more rights than they name (creating or binding roles beyond one's own,
 * acting as another user): never granted by a just-in-time credential, whatever the action file says.
 */
export const ESCALATING_VERBS: ReadonlySet<string> = new Set(['bind', 'escalate', 'impersonate']);

/** Why `value` is not a DNS-1123 label, or undefined when it is. */
export function dns1123LabelProblem(value: string): string | undefined {
  if (value.length > DNS1123_LABEL_MAX)
    return `is ${value.length} characters long; at most ${DNS1123_LABEL_MAX} are allowed`;
  if (!DNS1123_LABEL.test(value)) {
    return 'is not a DNS-1123 label (lowercase ASCII letters, digits and "-", starting and ending with a letter or digit)';
  }
  return undefined;
}

/** Why `value` is not a DNS-1123 subdomain, or undefined when it is. */
export function dns1123SubdomainProblem(value: string): string | undefined {
  if (value.length > DNS1123_SUBDOMAIN_MAX) {
    return `is ${value.length} characters long; at most ${DNS1123_SUBDOMAIN_MAX} are allowed`;
  }
  if (!DNS1123_SUBDOMAIN.test(value)) {
    return 'is not a DNS-1123 subdomain (lowercase ASCII letters, digits, "-" and ".", each part starting and ending with a letter or digit)';
  }
  return undefined;
}

/** Why `value` is not an RBAC verb a credential may carry, or undefined. */
export function verbProblem(value: string): string | undefined {
  if (ESCALATING_VERBS.has(value)) {
    return `is a privilege-escalating verb; a just-in-time credential never carries ${[...ESCALATING_VERBS].join(', ')}`;
  }
  if (!KUBERNETES_VERBS.has(value)) return `is not a Kubernetes verb (${[...KUBERNETES_VERBS].join(', ')})`;
  return undefined;
}

/** Why `value` is not an RBAC resource (`pods`, `pods/eviction`), or undefined. */
export function resourceProblem(value: string): string | undefined {
  if (value.length > DNS1123_LABEL_MAX * 2 + 1)
    return `is ${value.length} characters long; too long for a resource`;
  if (!RESOURCE.test(value)) {
    return 'is not a Kubernetes resource (a lowercase plural such as "deployments", optionally "/subresource")';
  }
  return undefined;
}

/** Why `value` is not an API group (`""` for the core group, else a DNS-1123 subdomain), or undefined. */
export function apiGroupProblem(value: string): string | undefined {
  if (value === '') return undefined;
  return dns1123SubdomainProblem(value);
}
