import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AgentSafeError } from '@agent-safe/core';
import { KUBECONFIG_MAX_BYTES, kubeconfigFromOptions, loadKubernetesClient } from '../src/index.js';

function kubeconfig(opts: {
  contexts: string[];
  current?: string;
  server?: string;
  caFile?: string;
}): string {
  const lines = ['apiVersion: v1', 'kind: Config', 'clusters:'];
  lines.push(
    `- name: c`,
    `  cluster: {server: "${opts.server ?? 'https://127.0.0.1:6443'}"${opts.caFile ? `, certificate-authority: "${opts.caFile}"` : ''}}`,
  );
  lines.push('users:', '- name: u', '  user: {token: "t"}', 'contexts:');
  for (const name of opts.contexts) lines.push(`- name: ${name}`, '  context: {cluster: c, user: u}');
  if (opts.current) lines.push(`current-context: ${opts.current}`);
  return `${lines.join('\n')}\n`;
}

async function rejection(promise: Promise<unknown>): Promise<AgentSafeError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AgentSafeError);
    return error as AgentSafeError;
  }
  throw new Error('expected a rejection');
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-safe-kubeconfig-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadKubernetesClient', () => {
  it('loads @kubernetes/client-node 1.x lazily and caches it', async () => {
    const k8s = await loadKubernetesClient();
    expect(typeof k8s.KubeConfig).toBe('function');
    expect(typeof k8s.setHeaderOptions).toBe('function');
    expect(await loadKubernetesClient()).toBe(k8s);
  });

  it('names the package to install when it is missing', async () => {
    const missing = Object.assign(
      new Error("Cannot find package '@kubernetes/client-node' imported from x"),
      {
        code: 'ERR_MODULE_NOT_FOUND',
      },
    );
    const error = await rejection(
      loadKubernetesClient({ importModule: async () => Promise.reject(missing) }),
    );
    expect(error.code).toBe('USAGE');
    expect(error.message).toContain('@kubernetes/client-node is not installed');
    expect(error.message).toContain('pnpm add @kubernetes/client-node@^1.4');
  });

  it('refuses a module that is not a 1.x client', async () => {
    const error = await rejection(
      loadKubernetesClient({ importModule: async () => ({ KubeConfig: class {} }) }),
    );
    expect(error.code).toBe('INTERNAL');
    expect(error.message).toContain('not a 1.x client');
  });
});

describe('kubeconfigFromOptions', () => {
  it('reads an explicit file, resolves relative paths against it, and uses its current-context', async () => {
    const file = join(dir, 'explicit.yaml');
    await writeFile(file, kubeconfig({ contexts: ['one', 'two'], current: 'two', caFile: 'ca.crt' }));
    const config = await kubeconfigFromOptions({ kubeconfig: file }, {});
    expect(config.getCurrentContext()).toBe('two');
    expect(config.getCurrentCluster()?.caFile).toBe(join(dir, 'ca.crt'));
  });

  it('selects a named context and rejects an unknown one, listing what exists', async () => {
    const file = join(dir, 'contexts.yaml');
    await writeFile(file, kubeconfig({ contexts: ['one', 'two'], current: 'one' }));
    expect((await kubeconfigFromOptions({ kubeconfig: file, context: 'two' }, {})).getCurrentContext()).toBe(
      'two',
    );
    const error = await rejection(kubeconfigFromOptions({ kubeconfig: file, context: 'prod' }, {}));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toBe(`context "prod" is not in ${file}; it has contexts "one", "two"`);
  });

  it('merges a KUBECONFIG list like kubectl: missing entries skipped, the first current-context wins', async () => {
    const first = join(dir, 'first.yaml');
    const second = join(dir, 'second.yaml');
    await writeFile(first, kubeconfig({ contexts: ['a'], current: 'a' }));
    await writeFile(second, kubeconfig({ contexts: ['b'], current: 'b' }));
    const env = { KUBECONFIG: [join(dir, 'absent.yaml'), first, second].join(delimiter) };
    const config = await kubeconfigFromOptions({}, env);
    expect(config.getCurrentContext()).toBe('a');
    expect(config.getContexts().map((c) => c.name)).toEqual(['a', 'b']);
  });

  it('falls back to ~/.kube/config and says what to do when there is none', async () => {
    const home = join(dir, 'home');
    await mkdir(join(home, '.kube'), { recursive: true });
    const error = await rejection(kubeconfigFromOptions({}, { HOME: home }));
    expect(error.code).toBe('FILE_UNREADABLE');
    expect(error.message).toContain('pass a kubeconfig file, set KUBECONFIG');
    await writeFile(join(home, '.kube', 'config'), kubeconfig({ contexts: ['home'], current: 'home' }));
    expect((await kubeconfigFromOptions({}, { HOME: home })).getCurrentContext()).toBe('home');
  });

  it('fails closed on a missing explicit file, a file without current-context, and malformed YAML', async () => {
    const missing = await rejection(kubeconfigFromOptions({ kubeconfig: join(dir, 'nope.yaml') }, {}));
    expect(missing.code).toBe('FILE_UNREADABLE');
    expect(missing.message).toContain('ENOENT');

    const noCurrent = join(dir, 'no-current.yaml');
    await writeFile(noCurrent, kubeconfig({ contexts: ['x'] }));
    const none = await rejection(kubeconfigFromOptions({ kubeconfig: noCurrent }, {}));
    expect(none.code).toBe('CONFIG_INVALID');
    expect(none.message).toContain('no usable current-context: pick one of contexts "x"');

    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'clusters: [unclosed\n');
    const bad = await rejection(kubeconfigFromOptions({ kubeconfig: broken }, {}));
    expect(bad.code).toBe('CONFIG_INVALID');
    expect(bad.message).toContain(`${broken} is not a valid kubeconfig`);
  });

  it('reads at most KUBECONFIG_MAX_BYTES', async () => {
    const huge = join(dir, 'huge.yaml');
    await writeFile(
      huge,
      `${kubeconfig({ contexts: ['x'], current: 'x' })}#${'a'.repeat(KUBECONFIG_MAX_BYTES)}\n`,
    );
    const error = await rejection(kubeconfigFromOptions({ kubeconfig: huge }, {}));
    expect(error.code).toBe('FILE_UNREADABLE');
    expect(error.message).toBe(`kubeconfig ${huge} is larger than ${KUBECONFIG_MAX_BYTES} bytes`);
  });

  it('rejects malformed options before reading anything', async () => {
    expect((await rejection(kubeconfigFromOptions({ kubeconfig: '' }, {}))).message).toContain(
      'kubeconfig must be',
    );
    expect((await rejection(kubeconfigFromOptions({ kubeconfig: 'a\nb' }, {}))).code).toBe('USAGE');
    expect((await rejection(kubeconfigFromOptions({ context: 'x\u0000' }, {}))).message).toContain(
      'context must be a kubeconfig context name',
    );
    expect((await rejection(kubeconfigFromOptions({ kubeconfig: 'k', inCluster: true }, {}))).message).toBe(
      'give either kubeconfig or inCluster, not both',
    );
  });
});
