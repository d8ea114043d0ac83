import type {
  ApiCall,
  ExecutionOutcome,
  ExecutionRequest,
  Executor,
  PrecheckOutcome,
} from '@agent-safe/core';
import { type KubernetesPlanOptions, kubernetesApiCalls } from './kubernetes-plan.js';

/**
 * Executes nothing: `execute` returns the API calls `plan` describes (for the Kubernetes catalogue
 * actions), every precheck passes with the reason "dry run" and no state is read. Use it to see exactly
 * what a ticket would do before running it with a real executor.
 */
export class DryRunExecutor implements Executor {
  readonly name = 'dry-run';
  readonly #options: KubernetesPlanOptions;

  constructor(options: KubernetesPlanOptions = {}) {
    this.#options = options;
  }

  plan(request: ExecutionRequest): readonly ApiCall[] {
    return kubernetesApiCalls(request.action.name, request.params, this.#options);
  }

  async execute(request: ExecutionRequest): Promise<ExecutionOutcome> {
    try {
      const calls = this.plan(request);
      return { ok: true, calls, output: { dryRun: true, calls } };
    } catch (error) {
      return { ok: false, error: (error as Error).message };
    }
  }

  async readState(): Promise<Record<string, unknown>> {
    return {};
  }

  async precheck(): Promise<PrecheckOutcome> {
    return { status: 'pass', reason: 'dry run' };
  }
}
