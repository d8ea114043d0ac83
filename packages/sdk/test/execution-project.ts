// A temp project for the enforcement tests (execute, state capture, rollback): catalogue actions copied
// from catalog/kubernetes, plus a fixture action with a sensitive param its rollback would need.
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentSafe, type AgentSafeOptions } from '../src/index.js';

export const CATALOG = join(import.meta.dirname, '..', '..', '..', 'catalog', 'kubernetes');
export const SECRET = 'execution-test-secret-with-at-least-32-bytes';
export const CALLER = 'deploy-agent';

/** An action whose rollback would need a sensitive param (masked in the log, so no plan). */
const ROTATE_TOKEN = `name: rotate-token
version: "1.0.0"
description: Replaces a service token (fixture).
parameters:
  - name: service
    type: string
    required: true
    description: Service name.
    constraints: { pattern: "^[a-z0-9-]{1,63}$" }
  - name: token
    type: string
    required: true
    sensitive: true
    description: The new token.
risk_class: low
target_types: [service]
reversible: true
rollback_action: rotate-token
state_fields:
  - { name: version, description: Token version, type: integer, required: true }
rollback_params:
  service: { source: params.service }
  token: { source: params.token }
`;

const POLICY = `rules:
  - name: no-restarts
    priority: 100
    match: { actions: [restart-deployment] }
    decision: deny
    reason: Restarts are not allowed here
  - name: approve-prod
    priority: 50
    match: { targets: { environments: [prod] } }
    decision: require_approval
    reason: Production needs approval
  - name: dev-open
    priority: 10
    match: { targets: { environments: [dev] } }
    decision: allow
    reason: Dev is open
`;

/** Writes the project; `namespace` is the namespace of the deployment targets (dev/web → `<ns>/web`). */
export function writeExecutionProject(
  options: { namespace?: string; edit?: (dir: string) => void } = {},
): string {
  const namespace = options.namespace ?? 'dev';
  const dir = mkdtempSync(join(tmpdir(), 'agent-safe-execution-'));
  mkdirSync(join(dir, 'actions'));
  for (const name of [
    'scale-deployment',
    'update-configmap',
    'drain-node',
    'restart-deployment',
    'uncordon-node',
  ]) {
    copyFileSync(join(CATALOG, `${name}.yaml`), join(dir, 'actions', `${name}.yaml`));
  }
  writeFileSync(join(dir, 'actions', 'rotate-token.yaml'), ROTATE_TOKEN);
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'rules.yaml'), POLICY);
  const target = (id: string, type: string, environment: string, identifiers: Record<string, string>) => ({
    id,
    type,
    environment,
    sensitivity: 'internal',
    identifiers,
  });
  const targets = [
    target('dev/web', 'k8s-deployment', 'dev', { namespace, name: 'web' }),
    target('prod/web', 'k8s-deployment', 'prod', { namespace: 'prod', name: 'web' }),
    target('dev/settings', 'k8s-configmap', 'dev', { namespace, name: 'settings' }),
    target('dev/node-1', 'k8s-node', 'dev', { name: 'node-1' }),
    target('dev/billing', 'service', 'dev', {}),
  ];
  writeFileSync(join(dir, 'inventory.yaml'), JSON.stringify({ targets }));
  options.edit?.(dir);
  return dir;
}

/** The facade on a project written by {@link writeExecutionProject}, with tickets. */
export function openProject(dir: string, extra: Partial<AgentSafeOptions> = {}): AgentSafe {
  return new AgentSafe({
    registry: join(dir, 'actions'),
    policies: join(dir, 'policies'),
    inventory: join(dir, 'inventory.yaml'),
    auditLog: join(dir, 'audit.jsonl'),
    config: false,
    auditDurability: 'write',
    security: { signingKey: SECRET, allowPlainCallers: true },
    ...extra,
  });
}

export const scaleParams = (replicas: number, namespace = 'dev') => ({
  namespace,
  deployment: 'web',
  replicas,
});
