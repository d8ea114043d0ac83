import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import {
  KUBECTL_ACTIONS,
  KubectlExecutor,
  MAX_LOG_TAIL_LINES,
  generateRollback,
  kubectlArgs,
  stateFromObject,
} from '../src/index.js';
import { catalogue } from './helpers.js';

const registry = catalogue();

describe('kubectlArgs', () => {
  test('maps the simple catalogue actions to argument arrays', () => {
    expect(kubectlArgs('restart-deployment', { namespace: 'prod', deployment: 'web' })).toEqual([
      'rollout',
      'restart',
      'deployment/web',
      '-n',
      'prod',
    ]);
    expect(kubectlArgs('scale-deployment', { namespace: 'prod', deployment: 'web', replicas: 3 })).toEqual([
      'scale',
      'deployment/web',
      '--replicas=3',
      '-n',
      'prod',
    ]);
    expect(kubectlArgs('cordon-node', { node: 'node-1' })).toEqual(['cordon', 'node-1']);
    expect(kubectlArgs('uncordon-node', { node: 'node-1' })).toEqual(['uncordon', 'node-1']);
    expect(kubectlArgs('delete-pod', { namespace: 'prod', pod: 'web-1', grace_period: 10 })).toEqual([
      'delete',
      'pod',
      'web-1',
      '-n',
      'prod',
      '--grace-period=10',
      '--wait=false',
    ]);
    expect(
      kubectlArgs('rollout-status', { namespace: 'prod', deployment: 'web', timeout_seconds: 90 }),
    ).toEqual(['rollout', 'status', 'deployment/web', '-n', 'prod', '--timeout=90s']);
    expect(kubectlArgs('rollout-undo', { namespace: 'prod', deployment: 'web', revision: 4 })).toEqual([
      'rollout',
      'undo',
      'deployment/web',
      '-n',
      'prod',
      '--to-revision=4',
    ]);
    expect(
      kubectlArgs('update-image', {
        namespace: 'prod',
        deployment: 'web',
        container: 'app',
        image: 'nginx:1.27',
      }),
    ).toEqual(['set', 'image', 'deployment/web', 'app=nginx:1.27', '-n', 'prod']);
    expect(
      kubectlArgs('get-pod-logs', { namespace: 'prod', pod: 'web-1', tail_lines: 50, container: 'app' }),
    ).toEqual(['logs', 'web-1', '-n', 'prod', '--tail=50', '--container=app']);
  });

  test('kubeconfig and context come first, as single --flag=value elements', () => {
    expect(
      kubectlArgs('cordon-node', { node: 'n1' }, { kubeconfig: '/etc/kube config', context: 'prod ctx' }),
    ).toEqual(['--kubeconfig=/etc/kube config', '--context=prod ctx', 'cordon', 'n1']);
  });

  test('log tail is bounded whatever the params say', () => {
    const args = kubectlArgs('get-pod-logs', { namespace: 'prod', pod: 'web-1', tail_lines: 10_000_000 });
    expect(args).toContain(`--tail=${MAX_LOG_TAIL_LINES}`);
  });

  test('a shell payload is refused by the action pattern, and would be one argv element anyway', () => {
    const payload = 'x; rm -rf /';
    const checked = registry.validateParams('restart-deployment', { namespace: 'prod', deployment: payload });
    expect(checked.ok).toBe(false);
    const args = kubectlArgs('restart-deployment', { namespace: 'prod', deployment: payload });
    expect(args).toEqual(['rollout', 'restart', 'deployment/x; rm -rf /', '-n', 'prod']);
    expect(args.filter((arg) => arg.includes('rm -rf'))).toHaveLength(1);
  });

  test('a value that would read as a flag is refused', () => {
    expect(() => kubectlArgs('cordon-node', { node: '--all' })).toThrow(/must not start with "-"/);
  });

  test('every mapped action is in the catalogue with the params the mapping reads', () => {
    for (const action of KUBECTL_ACTIONS) expect(registry.get(action)?.name).toBe(action);
  });

  test('unmapped actions are refused with the list of mapped ones', () => {
    expect(() => kubectlArgs('drain-node', { node: 'n1' })).toThrow(/no mapping for action "drain-node"/);
  });

  test('the executor plan is the EXEC of exactly these args', () => {
    const executor = new KubectlExecutor({ kubeconfig: '/k', kubectl: '/usr/bin/kubectl' });
    const definition = registry.get('cordon-node')!;
    const plan = executor.plan({
      action: definition,
      target: 'node-1',
      params: { node: 'node-1' },
      ticket: {} as never,
    });
    expect(plan).toEqual([
      { method: 'EXEC', path: '/usr/bin/kubectl', body: ['--kubeconfig=/k', 'cordon', 'node-1'] },
    ]);
  });
});

describe('stateFromObject', () => {
  const deployment = JSON.parse(
    readFileSync(join(import.meta.dirname, 'fixtures', 'deployment.json'), 'utf8'),
  ) as unknown;

  test('reads the catalogue state fields of a Deployment', () => {
    const fields = ['replicas', 'ready_replicas', 'available_replicas', 'generation', 'observed_generation'];
    expect(stateFromObject(deployment, fields)).toEqual({
      replicas: 4,
      ready_replicas: 3,
      available_replicas: 3,
      generation: 7,
      observed_generation: 7,
    });
  });

  test('update-image and rollout-undo fields: the named container image, images and the revision', () => {
    expect(stateFromObject(deployment, ['image', 'generation', 'revision'], { container: 'app' })).toEqual({
      image: 'nginx:1.25',
      generation: 7,
      revision: 3,
    });
    expect(stateFromObject(deployment, ['images', 'revision'])).toEqual({
      images: ['nginx:1.25', 'envoy:1.30'],
      revision: 3,
    });
  });

  test('a node without spec.unschedulable is schedulable; unknown fields are left out', () => {
    expect(stateFromObject({ kind: 'Node', spec: {} }, ['unschedulable', 'pod_count'])).toEqual({
      unschedulable: false,
    });
    expect(stateFromObject(deployment, ['no_such_field', 'unschedulable'])).toEqual({});
  });

  test('the captured state feeds the update-image rollback', () => {
    const beforeState = stateFromObject(deployment, ['image', 'generation', 'revision'], {
      container: 'app',
    });
    const params = { namespace: 'prod', deployment: 'web', container: 'app', image: 'nginx:1.27' };
    expect(
      generateRollback({ action: 'update-image', target: 'prod/web', params, beforeState }, registry),
    ).toMatchObject({
      ok: true,
      plan: { action: 'update-image', params: { ...params, image: 'nginx:1.25' } },
    });
  });
});
