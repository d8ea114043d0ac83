// POST /v1/execute against a real kube-apiserver + etcd (started privately for this file;
// `scripts/services.sh install k8s` builds the binaries once per machine; never skipped): the server's
// configured Kubernetes executor scales dev/app for the ticket's own caller; a replay and another
// caller's attempt change nothing.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type K8sCluster, startK8sCluster } from '../../executor-k8s/test/k8s-cluster.js';
import { type AgentSafeServer, startServer } from '../src/index.js';
import { TEST_KEY, copyProject, post } from './helpers.js';

let cluster: K8sCluster;
let server: AgentSafeServer;
let tokens: { bot: string; other: string };

async function kubectl(args: readonly string[], input?: string): Promise<string> {
  const result = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

async function replicas(): Promise<number> {
  const deployment = JSON.parse(await kubectl(['get', 'deployment', 'app', '-n', 'dev', '-o', 'json']));
  return deployment.spec.replicas as number;
}

async function allowScale(token: string, count: number) {
  const params = { namespace: 'dev', deployment: 'app', replicas: count };
  const decision = await post(
    `${server.url}/v1/check`,
    { action: 'scale-deployment', target: 'dev/app', params },
    { token },
  );
  expect(decision.body.result).toBe('ALLOW');
  return { ticket: decision.body.ticket.token as string, params };
}

beforeAll(async () => {
  cluster = await startK8sCluster();
  await kubectl(['create', 'namespace', 'dev']);
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'app', namespace: 'dev' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'app' } },
        template: {
          metadata: { labels: { app: 'app' } },
          spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] },
        },
      },
    }),
  );
  server = await startServer({
    port: 0,
    config: {
      cwd: copyProject(),
      config: false,
      auditDurability: 'write',
      security: { signingKey: TEST_KEY },
    },
    execute: { executor: 'kubernetes', kubeconfig: cluster.kubeconfigPath },
  });
  tokens = {
    bot: await server.safe.identity.createToken({ agentId: 'deploy-bot', roles: ['deployer'] }),
    other: await server.safe.identity.createToken({ agentId: 'other-bot', roles: ['deployer'] }),
  };
}, 150_000);

afterAll(async () => {
  await server?.close();
  await cluster?.stop();
}, 60_000);

describe('POST /v1/execute with the Kubernetes executor', () => {
  it('scales the deployment for the ticket caller, once; another caller and a replay change nothing', async () => {
    expect(await replicas()).toBe(2);
    const { ticket, params } = await allowScale(tokens.bot, 4);

    const stolen = await post(`${server.url}/v1/execute`, { ticket, params }, { token: tokens.other });
    expect(stolen.status).toBe(403);
    expect(await replicas()).toBe(2);

    const run = await post(`${server.url}/v1/execute`, { ticket, params }, { token: tokens.bot });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({
      status: 'succeeded',
      executor: 'kubernetes',
      action: 'scale-deployment',
      target: 'dev/app',
    });
    expect(run.body.error).toBeUndefined();
    expect(await replicas()).toBe(4);

    await kubectl(['scale', 'deployment/app', '-n', 'dev', '--replicas=2']);
    const replay = await post(`${server.url}/v1/execute`, { ticket, params }, { token: tokens.bot });
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ status: 'refused', error: { code: 'TICKET_REPLAYED' } });
    expect(await replicas()).toBe(2);
  });
});
