// The parts of the Kubernetes executor that need no cluster: credential handling, error texts, JSON of
// client-node models, refusals that happen before any call.
import { describe, expect, it } from '@jest/globals';
import { Credential } from '@agent-safe/core';
import { KubernetesExecutor } from '../src/index.js';
import { credentialToken } from '../src/credential-config.js';
import { describeCallError, plainJson } from '../src/session.js';
import { context, requestFor } from './executor-helpers.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.payload.signature';

describe('credentialToken', () => {
  const handle = (material: unknown, expiresAt = Date.now() + 60_000) =>
    new Credential({
      kind: 'kubernetes-token',
      id: 'sa/agent-safe-x',
      issuedAt: Date.now(),
      expiresAt,
      material,
    });

  it('reads the token of a handle or a plain { token }', () => {
    expect(credentialToken(handle({ token: TOKEN }))).toBe(TOKEN);
    expect(credentialToken({ token: TOKEN })).toBe(TOKEN);
  });

  it('accepts a handle of another @agent-safe/core copy by its shape', () => {
    const foreign = {
      kind: 'kubernetes-token',
      id: 'sa/x',
      invalidate() {},
      get material() {
        return { token: TOKEN };
      },
    };
    expect(credentialToken(Object.create(foreign))).toBe(TOKEN);
  });

  it('fails closed on anything else, never quoting the value', () => {
    const refused = [
      TOKEN,
      null,
      42,
      [TOKEN],
      { token: '' },
      { token: `${TOKEN}\nX-Injected: 1` },
      { password: TOKEN },
      handle({ password: TOKEN }),
      handle('just-a-string'),
    ];
    for (const value of refused) {
      let message = '';
      try {
        credentialToken(value);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^context.credentials must be a Credential whose material is \{ token \}/);
      expect(message).not.toContain(TOKEN);
    }
  });

  it('refuses a revoked or expired handle without the value', () => {
    const revoked = handle({ token: TOKEN });
    revoked.invalidate();
    expect(() => credentialToken(revoked)).toThrow(
      'Credential sa/agent-safe-x (kubernetes-token) was revoked',
    );
    expect(() => credentialToken(handle({ token: TOKEN }, Date.now() - 1))).toThrow(/expired at/);
  });
});

describe('describeCallError', () => {
  it('gives the status and the server message (escaped, cut), never the exception text with headers', () => {
    const error = Object.assign(
      new Error('HTTP-Code: 403\nMessage: Unknown API Status Code!\nHeaders: {"audit-id":"x"}'),
      {
        code: 403,
        body: JSON.stringify({
          kind: 'Status',
          message: 'deployments.apps "web" is forbidden\u001b[31m',
          code: 403,
        }),
      },
    );
    expect(describeCallError(error, 'https://k8s')).toBe(
      'HTTP 403: deployments.apps "web" is forbidden\\u{1b}[31m',
    );
    const long = Object.assign(new Error('x'), { code: 500, body: { message: 'y'.repeat(1000) } });
    expect(describeCallError(long, 'https://k8s')).toBe(`HTTP 500: ${'y'.repeat(300)}…`);
    expect(describeCallError(Object.assign(new Error('x'), { code: 502, body: '' }), 'https://k8s')).toBe(
      'HTTP 502',
    );
  });

  it('names the server for a network failure and says what else failed', () => {
    const refused = Object.assign(
      new Error('request to https://10.0.0.1/api failed, reason: connect ECONNREFUSED'),
      {
        name: 'FetchError',
        code: 'ECONNREFUSED',
      },
    );
    expect(describeCallError(refused, 'https://10.0.0.1')).toBe(
      'cannot reach the Kubernetes API server at https://10.0.0.1: ECONNREFUSED',
    );
    expect(describeCallError(new Error('Cannot parse content.\nmore'), 'https://k8s')).toBe(
      'the Kubernetes API call failed: Cannot parse content.',
    );
  });
});

describe('plainJson', () => {
  it('turns client-node models back into the wire JSON (renamed keys, dates)', () => {
    expect(
      plainJson({
        ingress: [{ _from: [{ podSelector: {} }], ports: undefined }],
        metadata: { creationTimestamp: new Date(Date.UTC(2026, 0, 1)) },
      }),
    ).toEqual({
      ingress: [{ from: [{ podSelector: {} }] }],
      metadata: { creationTimestamp: '2026-01-01T00:00:00.000Z' },
    });
  });
});

describe('KubernetesExecutor without a cluster', () => {
  it('refuses bad options, and actions it cannot run, before loading anything', async () => {
    expect(() => new KubernetesExecutor({ pollIntervalMs: 0 })).toThrow(
      /pollIntervalMs must be a whole number/,
    );
    expect(() => new KubernetesExecutor({ kubeconfig: 'x', kubeConfig: {} as never })).toThrow(/not both/);
    const executor = new KubernetesExecutor({ kubeconfig: '/nonexistent/kubeconfig' });
    const forward = await executor.execute(
      await requestFor('port-forward', { namespace: 'a', pod: 'b', local_port: 8080, remote_port: 80 }),
      context(),
    );
    expect(forward).toMatchObject({ ok: false, calls: [] });
    expect(forward.error).toMatch(
      /kubectl port-forward -n <namespace> pod\/<pod> <local_port>:<remote_port>/,
    );
    // A kubeconfig that cannot be read is a failed run naming the file, not a crash.
    const scale = await executor.execute(
      await requestFor('scale-deployment', { namespace: 'a', deployment: 'b', replicas: 1 }),
      context(),
    );
    expect(scale.ok).toBe(false);
    expect(scale.error).toMatch(/cannot read kubeconfig \/nonexistent\/kubeconfig: ENOENT/);
  });
});
