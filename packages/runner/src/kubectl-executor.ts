import { execFile } from 'node:child_process';
import type {
  ApiCall,
  ExecutionContext,
  ExecutionOutcome,
  ExecutionRequest,
  Executor,
  PrecheckOutcome,
} from '@agent-safe/core';
import { kubectlArgs } from './kubectl-args.js';

/** Options of {@link KubectlExecutor}. */
export interface KubectlExecutorOptions {
  /** The program; default `kubectl` from PATH. */
  readonly kubectl?: string;
  readonly kubeconfig?: string;
  readonly context?: string;
  /** Most bytes of stdout/stderr kept per command; default 1 MiB (the command fails beyond it). */
  readonly maxOutputBytes?: number;
  /** Per-command timeout; default 60 000 ms. The runner's signal still cancels earlier. */
  readonly commandTimeoutMs?: number;
}

/** State field name → JSON path (from `kubectl get -o json`) for the objects kubectl reads. */
const STATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  replicas: ['spec', 'replicas'],
  ready_replicas: ['status', 'readyReplicas'],
  available_replicas: ['status', 'availableReplicas'],
  generation: ['metadata', 'generation'],
  observed_generation: ['status', 'observedGeneration'],
  unschedulable: ['spec', 'unschedulable'],
  phase: ['status', 'phase'],
  node_name: ['spec', 'nodeName'],
};

function at(root: unknown, path: readonly string[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * The named state fields of a Kubernetes object as `kubectl get -o json` prints it (Deployment, Node or
 * Pod). Fields it does not know, or that the object lacks, are left out. `image` is the image of the
 * container named by `params.container`; `revision` the Deployment's revision annotation as a number.
 */
export function stateFromObject(
  object: unknown,
  fields: readonly string[],
  params: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  const state: Record<string, unknown> = {};
  const containers = at(object, ['spec', 'template', 'spec', 'containers']);
  for (const field of fields) {
    let value: unknown;
    if (field === 'image') {
      value = Array.isArray(containers)
        ? (containers.find((container) => at(container, ['name']) === params.container) as unknown)
        : undefined;
      value = at(value, ['image']);
    } else if (field === 'images') {
      value = Array.isArray(containers) ? containers.map((container) => at(container, ['image'])) : undefined;
    } else if (field === 'revision') {
      const annotation = at(object, ['metadata', 'annotations', 'deployment.kubernetes.io/revision']);
      value = typeof annotation === 'string' && /^\d{1,9}$/.test(annotation) ? Number(annotation) : undefined;
    } else if (field === 'owner_kind') {
      value = at(object, ['metadata', 'ownerReferences', '0', 'kind']);
    } else {
      const path = STATE_PATHS[field];
      value = path === undefined ? undefined : at(object, path);
      if (value === undefined && field === 'unschedulable' && at(object, ['kind']) === 'Node') value = false;
    }
    if (value !== undefined) state[field] = value;
  }
  return state;
}

/** The object an action acts on, as a `kubectl get` argument list, or undefined. */
function objectArgs(request: ExecutionRequest): string[] | undefined {
  const p = request.params;
  if (typeof p.deployment === 'string' && typeof p.namespace === 'string')
    return ['get', `deployment/${p.deployment}`, '-n', p.namespace, '-o', 'json'];
  if (typeof p.node === 'string') return ['get', `node/${p.node}`, '-o', 'json'];
  if (typeof p.pod === 'string' && typeof p.namespace === 'string')
    return ['get', `pod/${p.pod}`, '-n', p.namespace, '-o', 'json'];
  return undefined;
}

interface CommandResult {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly error?: string;
}

/**
 * Runs the simple catalogue actions with `kubectl`, as an argument array through `execFile` (never a
 * shell), with the kubeconfig and context from the options, bounded output and a timeout. Prechecks it
 * implements: `deployment-exists`, `node-exists`, `pod-exists`; any other precheck FAILS (an executor
 * that cannot check something never says it passed).
 */
export class KubectlExecutor implements Executor {
  readonly name = 'kubectl';
  readonly #options: KubectlExecutorOptions;

  constructor(options: KubectlExecutorOptions = {}) {
    this.#options = options;
  }

  #global(): string[] {
    const args: string[] = [];
    if (this.#options.kubeconfig !== undefined) args.push(`--kubeconfig=${this.#options.kubeconfig}`);
    if (this.#options.context !== undefined) args.push(`--context=${this.#options.context}`);
    return args;
  }

  plan(request: ExecutionRequest): readonly ApiCall[] {
    const args = kubectlArgs(request.action.name, request.params, this.#options);
    return [{ method: 'EXEC', path: this.#options.kubectl ?? 'kubectl', body: args }];
  }

  #run(args: readonly string[], signal: AbortSignal): Promise<CommandResult> {
    const maxBuffer = this.#options.maxOutputBytes ?? 1024 * 1024;
    return new Promise((resolve) => {
      execFile(
        this.#options.kubectl ?? 'kubectl',
        args,
        {
          shell: false,
          maxBuffer,
          timeout: this.#options.commandTimeoutMs ?? 60_000,
          signal,
          windowsHide: true,
          encoding: 'utf8',
        },
        (error, stdout, stderr) => {
          if (error === null) {
            resolve({ ok: true, stdout, stderr });
            return;
          }
          const detail = stderr.trim().slice(0, 2000) || error.message.slice(0, 2000);
          resolve({ ok: false, stdout, stderr, error: detail });
        },
      );
    });
  }

  async execute(request: ExecutionRequest, context: ExecutionContext): Promise<ExecutionOutcome> {
    let args: string[];
    try {
      args = kubectlArgs(request.action.name, request.params, this.#options);
    } catch (error) {
      return { ok: false, error: (error as Error).message };
    }
    const calls = [{ method: 'EXEC', path: this.#options.kubectl ?? 'kubectl', body: args }];
    const result = await this.#run(args, context.signal);
    return result.ok
      ? { ok: true, calls, output: result.stdout }
      : { ok: false, calls, error: `kubectl failed: ${result.error}` };
  }

  async readState(
    request: ExecutionRequest,
    fields: readonly string[],
    context: ExecutionContext,
  ): Promise<Record<string, unknown>> {
    const args = objectArgs(request);
    if (args === undefined || fields.length === 0) return {};
    const result = await this.#run([...this.#global(), ...args], context.signal);
    if (!result.ok) throw new Error(`kubectl could not read the object: ${result.error}`);
    let object: unknown;
    try {
      object = JSON.parse(result.stdout);
    } catch {
      throw new Error('kubectl get did not print a JSON object');
    }
    return stateFromObject(object, fields, request.params);
  }

  async precheck(
    name: string,
    request: ExecutionRequest,
    context: ExecutionContext,
  ): Promise<PrecheckOutcome> {
    if (name !== 'deployment-exists' && name !== 'node-exists' && name !== 'pod-exists') {
      return { status: 'fail', reason: `the kubectl executor has no implementation of precheck "${name}"` };
    }
    const args = objectArgs(request);
    if (args === undefined)
      return { status: 'fail', reason: `precheck "${name}": the params name no object` };
    const result = await this.#run([...this.#global(), ...args], context.signal);
    return result.ok
      ? { status: 'pass', reason: 'the object can be read' }
      : { status: 'fail', reason: `the object cannot be read: ${result.error}` };
  }
}
