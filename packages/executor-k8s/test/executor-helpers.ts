import { join } from 'node:path';
import type { ExecutionContext, ExecutionRequest, ExecutionTicket } from '@agent-safe/core';
import { ActionRegistry } from '@agent-safe/registry';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubernetesClientModule } from '../src/index.js';

export const CATALOG = join(import.meta.dirname, '..', '..', '..', 'catalog', 'kubernetes');

let registry: Promise<ActionRegistry> | undefined;

/** The shipped Kubernetes catalogue. */
export function catalogue(): Promise<ActionRegistry> {
  registry ??= ActionRegistry.load(CATALOG);
  return registry;
}

/** An ExecutionRequest for a catalogue action (params validated, defaults applied, as the runner does). */
export async function requestFor(action: string, params: Record<string, unknown>): Promise<ExecutionRequest> {
  const actions = await catalogue();
  const definition = actions.get(action);
  if (definition === undefined) throw new Error(`no action ${action}`);
  const checked = actions.validateParams(action, params);
  if (!checked.ok) throw new Error(`bad params for ${action}: ${JSON.stringify(checked.errors)}`);
  return {
    action: definition,
    target: 'test',
    params: checked.params,
    ticket: { auditId: 'evt_test' } as unknown as ExecutionTicket,
  };
}

/** The same, without validation (for values the catalogue's bounds would refuse, e.g. a 2 s timeout). */
export async function rawRequestFor(
  action: string,
  params: Record<string, unknown>,
): Promise<ExecutionRequest> {
  const definition = (await catalogue()).get(action);
  if (definition === undefined) throw new Error(`no action ${action}`);
  return {
    action: definition,
    target: 'test',
    params,
    ticket: { auditId: 'evt_test' } as unknown as ExecutionTicket,
  };
}

export function context(options: { signal?: AbortSignal; credentials?: unknown } = {}): ExecutionContext {
  return {
    signal: options.signal ?? new AbortController().signal,
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
  };
}

/** A KubeConfig for `server` with only a bearer token (and the cluster's CA). */
export function tokenConfig(
  k8s: KubernetesClientModule,
  server: string,
  caPath: string,
  token: string,
): KubeConfig {
  const config = new k8s.KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'test', server, caFile: caPath, skipTLSVerify: false }],
    users: [{ name: 'user', token }],
    contexts: [{ name: 'ctx', cluster: 'test', user: 'user' }],
    currentContext: 'ctx',
  });
  return config;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
