import type {
  ApiCall,
  ExecutionOutcome,
  ExecutionRequest,
  Executor,
  PrecheckOutcome,
} from '@agent-safe/core';
import { type AwsPlanOptions, awsApiCalls, isPlannedAwsAction } from './aws-plan.js';
import { type KubernetesPlanOptions, kubernetesApiCalls } from './kubernetes-plan.js';

/**
 * Executes nothing: `execute` returns the API calls `plan` describes (for the Kubernetes catalogue
 * actions, and the AWS ones with `awsApiCalls`), every precheck passes with the reason "dry run" and no state is read. Use it to see exactly
 * what a ticket would do before running it with a real executor.
 */
export class DryRunExecutor implements Executor {
  readonly name = 'dry-run';
  readonly #options: KubernetesPlanOptions & AwsPlanOptions;

  constructor(options: KubernetesPlanOptions & AwsPlanOptions = {}) {
    this.#options = options;
  }

  plan(request: ExecutionRequest): readonly ApiCall[] {
    if (isPlannedAwsAction(request.action.name)) {
      return awsApiCalls(request.action.name, request.params, this.#options);
    }
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
