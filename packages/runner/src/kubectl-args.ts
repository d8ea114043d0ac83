/** The catalogue actions {@link kubectlArgs} maps to a kubectl command line. */
export const KUBECTL_ACTIONS = [
  'restart-deployment',
  'scale-deployment',
  'cordon-node',
  'uncordon-node',
  'delete-pod',
  'rollout-status',
  'rollout-undo',
  'update-image',
  'get-pod-logs',
] as const;

/** Most log lines `get-pod-logs` asks for, whatever the params say. */
export const MAX_LOG_TAIL_LINES = 10_000;

/** Options that become global kubectl flags. */
export interface KubectlGlobalOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
}

function name(params: Readonly<Record<string, unknown>>, key: string): string {
  const value = params[key];
  if (typeof value !== 'string' || value.length === 0)
    throw new Error(`param "${key}" must be a non-empty string`);
  // A value starting with "-" would be read as a flag: names validated by the catalogue never do.
  if (value.startsWith('-')) throw new Error(`param "${key}" must not start with "-"`);
  return value;
}

function integer(params: Readonly<Record<string, unknown>>, key: string, fallback?: number): number {
  const value = params[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`param "${key}" must be a non-negative integer`);
  }
  return value;
}

/**
 * The argument array (without the `kubectl` program) for a catalogue action. Every param value is one
 * array element of its own (or the part after `=` of one `--flag=value` element), never spliced into a
 * command string: the executor runs it with execFile, without a shell. Throws for an unmapped action.
 */
export function kubectlArgs(
  action: string,
  params: Readonly<Record<string, unknown>>,
  options: KubectlGlobalOptions = {},
): string[] {
  const global: string[] = [];
  if (options.kubeconfig !== undefined) global.push(`--kubeconfig=${options.kubeconfig}`);
  if (options.context !== undefined) global.push(`--context=${options.context}`);
  const ns = (): string[] => ['-n', name(params, 'namespace')];
  let args: string[];
  switch (action) {
    case 'restart-deployment':
      args = ['rollout', 'restart', `deployment/${name(params, 'deployment')}`, ...ns()];
      break;
    case 'scale-deployment':
      args = [
        'scale',
        `deployment/${name(params, 'deployment')}`,
        `--replicas=${integer(params, 'replicas')}`,
        ...ns(),
      ];
      break;
    case 'cordon-node':
      args = ['cordon', name(params, 'node')];
      break;
    case 'uncordon-node':
      args = ['uncordon', name(params, 'node')];
      break;
    case 'delete-pod':
      args = [
        'delete',
        'pod',
        name(params, 'pod'),
        ...ns(),
        `--grace-period=${integer(params, 'grace_period', 30)}`,
        '--wait=false',
      ];
      break;
    case 'rollout-status':
      args = [
        'rollout',
        'status',
        `deployment/${name(params, 'deployment')}`,
        ...ns(),
        `--timeout=${integer(params, 'timeout_seconds', 60)}s`,
      ];
      break;
    case 'rollout-undo':
      args = ['rollout', 'undo', `deployment/${name(params, 'deployment')}`, ...ns()];
      if (params.revision !== undefined) args.push(`--to-revision=${integer(params, 'revision')}`);
      break;
    case 'update-image':
      args = [
        'set',
        'image',
        `deployment/${name(params, 'deployment')}`,
        `${name(params, 'container')}=${name(params, 'image')}`,
        ...ns(),
      ];
      break;
    case 'get-pod-logs': {
      const tail = Math.min(integer(params, 'tail_lines', 100), MAX_LOG_TAIL_LINES);
      args = ['logs', name(params, 'pod'), ...ns(), `--tail=${tail}`];
      if (params.container !== undefined) args.push(`--container=${name(params, 'container')}`);
      if (params.since_seconds !== undefined) args.push(`--since=${integer(params, 'since_seconds')}s`);
      if (params.previous === true) args.push('--previous');
      break;
    }
    default:
      throw new Error(
        `kubectl executor has no mapping for action "${action}" (mapped: ${KUBECTL_ACTIONS.join(', ')})`,
      );
  }
  return [...global, ...args];
}
