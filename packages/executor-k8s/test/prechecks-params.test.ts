// Prechecks decided from the request alone (no API call), and the dispatcher's own rules. The
// cluster-backed prechecks are in prechecks-cluster.test.ts.
import { createServer, type Server } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import type { KubernetesApis } from '../src/apis.js';
import { parseQuantity, selectorMatches } from '../src/precheck-support.js';
import { KUBERNETES_PRECHECKS, runPrecheck } from '../src/prechecks.js';
import { catalogue, executionRequest } from './precheck-request.js';

/** No API at all: a precheck that tried to read would throw, and that must come back as `fail`. */
const noApis = {} as KubernetesApis;
const live = () => new AbortController().signal;

async function check(name: string, action: string, params: Record<string, unknown>, options = {}) {
  return await runPrecheck(name, executionRequest(action, params), noApis, live(), options);
}

describe('the precheck set', () => {
  it('implements every precheck the Kubernetes catalogue names, and nothing it does not', () => {
    const named = new Set(
      catalogue()
        .list()
        .flatMap((action) => action.prechecks.map((check) => check.name)),
    );
    expect(named.size).toBeGreaterThan(30);
    expect([...named].sort()).toEqual([...KUBERNETES_PRECHECKS]);
  });

  it('fails an unknown name (never passes), including inherited object keys', async () => {
    const request = executionRequest('scale-deployment', { namespace: 'a', deployment: 'b', replicas: 2 });
    const shown = await runPrecheck('evil\u202e\u001b[2J', request, noApis, live());
    expect(shown.reason).toBe(
      'the Kubernetes executor has no precheck named "evil\\u{202e}\\u{1b}[2J": it cannot pass',
    );
    for (const name of ['no-such-check', 'constructor', '__proto__', 'toString', '']) {
      const outcome = await runPrecheck(name, request, noApis, live());
      expect(outcome.status).toBe('fail');
      expect(outcome.reason).toContain('no precheck named');
    }
  });

  it('fails a precheck that needs the API when the API cannot be called', async () => {
    const outcome = await check('deployment-exists', 'scale-deployment', {
      namespace: 'a',
      deployment: 'b',
      replicas: 2,
    });
    expect(outcome.status).toBe('fail');
  });

  it('rejects at once with the reason of an aborted signal', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled by the test'));
    const request = executionRequest('create-namespace', { namespace: 'x' });
    await expect(runPrecheck('namespace-absent', request, noApis, controller.signal)).rejects.toThrow(
      'cancelled by the test',
    );
  });
});

describe('not-system-namespace', () => {
  it('passes an ordinary namespace', async () => {
    expect((await check('not-system-namespace', 'delete-namespace', { namespace: 'shop' })).status).toBe(
      'pass',
    );
  });
  it.each(['default', 'kube-system', 'kube-public', 'kube-node-lease', 'kube-anything'])(
    'fails %s even when the param pattern is bypassed',
    async (namespace) => {
      const request = {
        ...executionRequest('delete-namespace', { namespace: 'shop' }),
        params: { namespace },
      };
      const outcome = await runPrecheck('not-system-namespace', request, noApis, live());
      expect(outcome).toEqual({
        status: 'fail',
        reason: `namespace ${namespace} is a system namespace the cluster depends on`,
      });
    },
  );
});

describe('command-allowed (exec-pod)', () => {
  const exec = (command: unknown[], options = {}, target = 'test-target') =>
    runPrecheck(
      'command-allowed',
      {
        ...executionRequest('exec-pod', { namespace: 'a', pod: 'p', command: ['x'] }, target),
        params: { namespace: 'a', pod: 'p', command },
      },
      noApis,
      live(),
      options,
    );

  it('fails when the operator configured no allow-list', async () => {
    const outcome = await exec(['cat', '/etc/resolv.conf']);
    expect(outcome.status).toBe('fail');
    expect(outcome.reason).toContain('no allow-list of exec commands is configured for target test-target');
  });
  it('passes a program listed for the target, or for every target', async () => {
    expect(
      (await exec(['cat', '/etc/resolv.conf'], { execAllowList: { 'test-target': ['cat'] } })).status,
    ).toBe('pass');
    expect((await exec(['ls', '-l'], { execAllowList: { '*': ['ls'] } })).status).toBe('pass');
  });
  it('fails a program listed only for another target, or matched loosely', async () => {
    expect((await exec(['cat'], { execAllowList: { other: ['cat'] } })).status).toBe('fail');
    expect((await exec(['/bin/cat'], { execAllowList: { '*': ['cat'] } })).status).toBe('fail');
    expect((await exec(['cat '], { execAllowList: { '*': ['cat'] } })).status).toBe('fail');
  });
  it.each([['sh'], ['/bin/bash'], ['env'], ['python3.12'], ['busybox'], ['xargs']])(
    'fails %s even when it is listed (it runs other programs)',
    async (program) => {
      const outcome = await exec([program, '-c', 'id'], { execAllowList: { '*': [program] } });
      expect(outcome.status).toBe('fail');
      expect(outcome.reason).toContain('never allowed');
    },
  );
  it('fails malformed commands: empty, not strings, control characters, too long', async () => {
    const options = { execAllowList: { '*': ['cat'] } };
    for (const command of [
      [],
      [1],
      ['cat', ''],
      ['cat', 'a\nb'],
      ['cat', 'x'.repeat(5000)],
      Array(65).fill('cat'),
    ]) {
      expect((await exec(command, options)).status).toBe('fail');
    }
  });
});

describe('dns-egress (apply-network-policy)', () => {
  const base = { namespace: 'a', policy_name: 'p', pod_selector: 'app=web' };
  it('passes when Egress is not governed (the default is Ingress only)', async () => {
    expect((await check('dns-egress', 'apply-network-policy', base)).status).toBe('pass');
  });
  it('warns when Egress is governed without rules, or no rule allows port 53', async () => {
    const none = await check('dns-egress', 'apply-network-policy', { ...base, policy_types: 'Egress' });
    expect(none.status).toBe('warn');
    expect(none.reason).toContain('DNS');
    const web = await check('dns-egress', 'apply-network-policy', {
      ...base,
      policy_types: 'Ingress,Egress',
      egress: [{ ports: [{ port: 443, protocol: 'TCP' }] }],
    });
    expect(web.status).toBe('warn');
  });
  it('passes when a rule allows port 53 (exactly, in a range, or all ports)', async () => {
    for (const egress of [
      [{ ports: [{ port: 443 }] }, { ports: [{ port: 53, protocol: 'UDP' }] }],
      [{ ports: [{ port: 50, endPort: 60 }] }],
      [{ to: [{ namespaceSelector: {} }] }],
    ]) {
      expect(
        (await check('dns-egress', 'apply-network-policy', { ...base, policy_types: 'Egress', egress }))
          .status,
      ).toBe('pass');
    }
  });
});

describe('some-target-given and bounds-ordered (HPA actions)', () => {
  it('some-target-given fails with neither target and passes with one', async () => {
    expect((await check('some-target-given', 'update-hpa-limits', { namespace: 'a', hpa: 'h' })).status).toBe(
      'fail',
    );
    expect(
      (
        await check('some-target-given', 'update-hpa-limits', {
          namespace: 'a',
          hpa: 'h',
          target_memory_percent: 70,
        })
      ).reason,
    ).toBe('sets memory to 70%');
  });
  it('bounds-ordered passes min <= max and fails min > max', async () => {
    expect(
      (
        await check('bounds-ordered', 'scale-hpa', {
          namespace: 'a',
          hpa: 'h',
          min_replicas: 2,
          max_replicas: 2,
        })
      ).status,
    ).toBe('pass');
    const outcome = await check('bounds-ordered', 'scale-hpa', {
      namespace: 'a',
      hpa: 'h',
      min_replicas: 5,
      max_replicas: 3,
    });
    expect(outcome).toEqual({
      status: 'fail',
      reason: 'min_replicas 5 is greater than max_replicas 3 (from the params)',
    });
  });
});

describe('image-resolvable (update-image)', () => {
  const base = { namespace: 'a', deployment: 'd', container: 'c' };
  it('warns that it did not verify the image, and says how it is pinned', async () => {
    const tag = await check('image-resolvable', 'update-image', {
      ...base,
      image: 'registry.example.com/app:1.2',
    });
    expect(tag.status).toBe('warn');
    expect(tag.reason).toContain('was not verified');
    expect(tag.reason).toContain('tag 1.2');
    const digest = await check('image-resolvable', 'update-image', {
      ...base,
      image: `app@sha256:${'a'.repeat(64)}`,
    });
    expect(digest.reason).toContain('pinned by digest');
    expect(
      (await check('image-resolvable', 'update-image', { ...base, image: 'localhost:5000/app' })).reason,
    ).toContain('no tag');
  });
});

describe('local-port-free (port-forward)', () => {
  const params = (local_port: number) => ({ namespace: 'a', pod: 'p', local_port, remote_port: 80 });
  it('fails when something listens on the port and passes once it is free', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const busy = await check('local-port-free', 'port-forward', params(port));
      expect(busy).toEqual({ status: 'fail', reason: `local port ${port} is already in use on this host` });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect((await check('local-port-free', 'port-forward', params(port))).status).toBe('pass');
  });
});

describe('support', () => {
  it('parses Kubernetes quantities', () => {
    expect(parseQuantity('250m')).toBeCloseTo(0.25);
    expect(parseQuantity('2')).toBe(2);
    expect(parseQuantity('1Gi')).toBe(2 ** 30);
    expect(parseQuantity('1.5Mi')).toBe(1.5 * 2 ** 20);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity('128M')).toBe(128e6);
    expect(parseQuantity('1Xi')).toBeUndefined();
    expect(parseQuantity('')).toBeUndefined();
  });
  it('matches label selectors as Kubernetes does (null selects nothing, {} everything)', () => {
    expect(selectorMatches(undefined, { a: '1' })).toBe(false);
    expect(selectorMatches({}, { a: '1' })).toBe(true);
    expect(selectorMatches({ matchLabels: { a: '1' } }, { a: '1', b: '2' })).toBe(true);
    expect(selectorMatches({ matchLabels: { a: '2' } }, { a: '1' })).toBe(false);
    expect(
      selectorMatches({ matchExpressions: [{ key: 'a', operator: 'In', values: ['1', '3'] }] }, { a: '1' }),
    ).toBe(true);
    expect(
      selectorMatches({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, { a: '1' }),
    ).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, {})).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'Weird' }] }, { a: '1' })).toBe(false);
  });
});

describe('server text in reasons', () => {
  it('is escaped and cut, and the exception text (with response headers) is never used', async () => {
    const { apiErrorText } = await import('../src/precheck-support.js');
    const error = Object.assign(new Error('HTTP-Code: 403 Headers: {"audit-id":"x"}'), {
      code: 403,
      body: JSON.stringify({ message: `no\u001b[31m way ${'x'.repeat(400)}` }),
    });
    const text = apiErrorText(error);
    expect(text.startsWith('forbidden: no\\u{1b}[31m way xxx')).toBe(true);
    expect(text.length).toBeLessThan(330);
    expect(text).not.toContain('audit-id');
  });
});
