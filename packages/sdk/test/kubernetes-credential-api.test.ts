// kubernetesCredentialApi: the credential provider's client on a kubeconfig (what `agent-safe credential
// test-vault --vault kubernetes` and `runner execute --credentials kubernetes` use). Its calls against a
// real API server are tested by the CLI's runner-k8s test; here: the refusals before any call.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { kubernetesCredentialApi } from '../src/index.js';

function kubeconfig(server: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'agent-safe-kcapi-')), 'kubeconfig');
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: { server: "${server}" }
users:
- name: u
  user: { token: not-a-real-token }
contexts:
- name: x
  context: { cluster: c, user: u }
current-context: x
`,
    { mode: 0o600 },
  );
  return file;
}

describe('kubernetesCredentialApi', () => {
  it('names the package to install when @agent-safe/executor-k8s is missing', async () => {
    const missing = () =>
      Promise.reject(
        Object.assign(new Error("Cannot find package '@agent-safe/executor-k8s' imported from /app/x.js"), {
          code: 'ERR_MODULE_NOT_FOUND',
        }),
      );
    await expect(kubernetesCredentialApi({}, missing)).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining(
        'needs the optional package @agent-safe/executor-k8s, which is not installed: run "npm install @agent-safe/executor-k8s @kubernetes/client-node"',
      ),
    });
  });

  it('refuses a context whose server is not https (a bearer token never goes out in clear text)', async () => {
    await expect(
      kubernetesCredentialApi({ kubeconfig: kubeconfig('http://127.0.0.1:1') }),
    ).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('names no https:// API server'),
    });
  });

  it('reports an unreachable server as a rejection with the reason, without the token', async () => {
    const api = await kubernetesCredentialApi({
      kubeconfig: kubeconfig('https://127.0.0.1:1'),
      timeoutMs: 2000,
    });
    const failure = await api.request('GET', '/api/v1/namespaces/default').then(
      () => undefined,
      (error: Error) => error.message,
    );
    expect(failure).toMatch(/ECONNREFUSED/);
    expect(failure).not.toContain('not-a-real-token');
  });
});
