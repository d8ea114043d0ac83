import {
  AgentSafeError,
  type ApiCall,
  type ExecutionContext,
  type ExecutionOutcome,
  type ExecutionRequest,
  type Executor,
  type PrecheckOutcome,
} from '@agent-safe/core';
import { kubernetesApiCalls, MASKED_VALUE } from '@agent-safe/runner';
import type { KubeConfig } from '@kubernetes/client-node';
import { ACTIONS, STREAMING_ACTIONS, unsupported } from './actions.js';
import { type KubernetesApis, kubernetesApis } from './apis.js';
import {
  type KubeconfigOptions,
  type KubernetesClientModule,
  kubeconfigFromOptions,
  loadKubernetesClient,
} from './client.js';
import { credentialToken, tokenKubeConfig } from './credential-config.js';
import { type PrecheckOptions, runPrecheck } from './prechecks.js';
import { describeCallError, quote, Session } from './session.js';
import { readActionState } from './state.js';

/** Options of {@link KubernetesExecutor}. */
export interface KubernetesExecutorOptions extends KubeconfigOptions {
  /** A ready KubeConfig (instead of kubeconfig / context / inCluster). */
  readonly kubeConfig?: KubeConfig;
  /** Clock of the restart annotation (restart-deployment); default the machine's. */
  readonly now?: () => Date;
  /** Poll interval of rollout-status and first backoff of refused evictions; default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** Longest wait for one API request; default 30 000 ms (the run's signal still stops it earlier). */
  readonly requestTimeoutMs?: number;
  /** Operator settings of the prechecks (e.g. exec-pod's allow-list). */
  readonly precheck?: PrecheckOptions;
}

interface Base {
  readonly k8s: KubernetesClientModule;
  readonly config: KubeConfig;
  readonly apis: KubernetesApis;
}

function positiveInteger(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > 2_147_483_647) {
    throw new AgentSafeError(
      'USAGE',
      `${name} must be a whole number of milliseconds from 1, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Runs the Kubernetes catalogue actions through the API with `@kubernetes/client-node` (loaded on first
 * use). Each action makes exactly the calls {@link KubernetesExecutor.plan} shows (the dry run's
 * `kubernetesApiCalls`). With `context.credentials` (a KubernetesCredentialProvider handle or
 * `{ token }`) the action (`execute`) and its state reads (`readState`, which read only the action's own
 * object) use the runner's cluster with ONLY that token; without one, the runner's own kubeconfig.
 * Prechecks always run with the runner's own kubeconfig: they are the runner's verification and read
 * beyond the action's object (HPAs, quotas, pods, nodes, budgets), which the action's narrow credential
 * must not be able to; that identity needs `PRECHECK_READ_RULES`. Failures come back as `ok: false`
 * with `HTTP <code>: <server message>`; exec-pod and port-forward are refused (they need an interactive
 * stream).
 */
export class KubernetesExecutor implements Executor {
  readonly name = 'kubernetes';
  readonly #options: KubernetesExecutorOptions;
  readonly #pollIntervalMs: number;
  readonly #requestTimeoutMs: number;
  #base: Promise<Base> | undefined;

  constructor(options: KubernetesExecutorOptions = {}) {
    if (options.kubeConfig !== undefined && (options.kubeconfig !== undefined || options.inCluster)) {
      throw new AgentSafeError(
        'USAGE',
        'give either kubeConfig (a built KubeConfig) or kubeconfig / inCluster, not both',
      );
    }
    this.#options = options;
    this.#pollIntervalMs = positiveInteger(options.pollIntervalMs, 'pollIntervalMs', 1000);
    this.#requestTimeoutMs = positiveInteger(options.requestTimeoutMs, 'requestTimeoutMs', 30_000);
  }

  /** Loads the client and the kubeconfig now (they load on first use otherwise); throws what is wrong. */
  async ready(): Promise<this> {
    await this.#loadBase();
    return this;
  }

  #loadBase(): Promise<Base> {
    this.#base ??= (async () => {
      const k8s = await loadKubernetesClient();
      const config = this.#options.kubeConfig ?? (await kubeconfigFromOptions(this.#options));
      return { k8s, config, apis: kubernetesApis(k8s, config) };
    })().catch((error: unknown) => {
      this.#base = undefined; // a later run may succeed (a kubeconfig written meanwhile)
      throw error;
    });
    return this.#base;
  }

  /**
   * The clients of one call of the port. `identity: 'credential'` (execute, readState): with
   * `context.credentials`, ONLY that token; otherwise the runner's kubeconfig. `identity: 'runner'`
   * (prechecks): always the runner's kubeconfig; a credential in the context is still checked (a revoked
   * or malformed one fails closed here too) but not used.
   */
  async #session(
    context: ExecutionContext,
    identity: 'credential' | 'runner' = 'credential',
  ): Promise<Session> {
    const base = await this.#loadBase();
    let apis = base.apis;
    if (identity === 'runner') {
      if (context.credentials !== undefined) credentialToken(context.credentials);
    } else if (context.credentials !== undefined) {
      apis = kubernetesApis(
        base.k8s,
        tokenKubeConfig(base.k8s, base.config, credentialToken(context.credentials)),
      );
    }
    return new Session({
      k8s: base.k8s,
      apis,
      signal: context.signal,
      requestTimeoutMs: this.#requestTimeoutMs,
      pollIntervalMs: this.#pollIntervalMs,
    });
  }

  plan(request: ExecutionRequest): readonly ApiCall[] {
    return kubernetesApiCalls(
      request.action.name,
      request.params,
      this.#options.now ? { now: this.#options.now } : {},
    );
  }

  /** The calls as reported back: sensitive params (e.g. update-configmap's value) masked. */
  #reportedCalls(request: ExecutionRequest): readonly ApiCall[] {
    const sensitive = request.action.parameters.filter(
      (parameter) => parameter.sensitive && Object.hasOwn(request.params, parameter.name),
    );
    if (sensitive.length === 0) return this.plan(request);
    const masked: Record<string, unknown> = { ...request.params };
    for (const parameter of sensitive) masked[parameter.name] = MASKED_VALUE;
    return kubernetesApiCalls(
      request.action.name,
      masked,
      this.#options.now ? { now: this.#options.now } : {},
    );
  }

  async execute(request: ExecutionRequest, context: ExecutionContext): Promise<ExecutionOutcome> {
    const action = request?.action?.name;
    const streaming = typeof action === 'string' && Object.hasOwn(STREAMING_ACTIONS, action);
    if (streaming) return { ok: false, error: STREAMING_ACTIONS[action] as string, calls: [] };
    let planned: readonly ApiCall[];
    let calls: readonly ApiCall[];
    try {
      planned = this.plan(request);
      calls = this.#reportedCalls(request);
    } catch (error) {
      return {
        ok: false,
        error: `cannot plan ${quote(action, 100)}: ${quote((error as Error)?.message ?? error)}`,
      };
    }
    const implementation = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
    if (implementation === undefined) return { ok: false, error: unsupported(action).message, calls };
    let session: Session | undefined;
    try {
      session = await this.#session(context);
      const result = await implementation({ request, planned, session });
      return {
        ok: result.ok,
        calls,
        ...(result.output !== undefined ? { output: result.output } : {}),
        ...(result.error !== undefined ? { error: result.error } : {}),
      };
    } catch (error) {
      if (context.signal.aborted) {
        const reason = context.signal.reason as { message?: unknown } | undefined;
        return {
          ok: false,
          calls,
          error: `stopped: ${quote(typeof reason?.message === 'string' ? reason.message : 'the run was aborted')}`,
        };
      }
      return { ok: false, calls, error: describeCallError(error, session?.server ?? '(not connected)') };
    }
  }

  /**
   * Reads the action's `state_fields` from its own object, with the run's credential when there is one:
   * every catalogue action's credential may `get` its own object (tested against each credentials
   * block), so the before- and after-state need no right of the runner's.
   */
  async readState(
    request: ExecutionRequest,
    fields: readonly string[],
    context: ExecutionContext,
  ): Promise<Record<string, unknown>> {
    if (fields.length === 0) return {};
    const session = await this.#session(context);
    return await readActionState(session, request, fields);
  }

  /** Runs a named precheck with the runner's own kubeconfig (never the run's credential; see the class). */
  async precheck(
    name: string,
    request: ExecutionRequest,
    context: ExecutionContext,
  ): Promise<PrecheckOutcome> {
    const session = await this.#session(context, 'runner');
    return await runPrecheck(name, request, session.apis, context.signal, this.#options.precheck ?? {});
  }
}

/** Builds a {@link KubernetesExecutor} and loads the client and kubeconfig at once (errors surface here). */
export async function createKubernetesExecutor(
  options: KubernetesExecutorOptions = {},
): Promise<KubernetesExecutor> {
  return await new KubernetesExecutor(options).ready();
}
