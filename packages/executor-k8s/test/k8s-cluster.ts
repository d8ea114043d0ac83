import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer, type Server } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** Pinned versions: the same as scripts/services.sh (the cache directory is keyed by them). */
export const K8S_VERSION = 'v1.37.2';
export const ETCD_VERSION = 'v3.7.3';
const INSTALL_COMMAND = 'scripts/services.sh install k8s';

/** A private etcd + kube-apiserver (+ kube-controller-manager) on loopback, RBAC on. */
export interface K8sCluster {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** Admin kubeconfig (static token in `system:masters`, context `agent-safe-test`, namespace default). */
  readonly kubeconfigPath: string;
  /** The CA certificate that verifies the API server's certificate. */
  readonly caPath: string;
  /** The admin bearer token. */
  readonly adminToken: string;
  /** Runs the cached kubectl against this cluster (argument array, never a shell). */
  kubectl(args: readonly string[], options?: { input?: string }): Promise<KubectlResult>;
  /** Stops every process and removes the temp directory. */
  stop(): Promise<void>;
}

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface StartOptions {
  /** Also run kube-controller-manager (Deployments get ReplicaSets/Pods, namespaces finish deleting). */
  readonly controllerManager?: boolean;
}

/** `$AGENT_SAFE_K8S_DIR/bin`, else `${XDG_CACHE_HOME:-~/.cache}/agent-safe/k8s-<version>/bin` (as services.sh). */
export function k8sBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.AGENT_SAFE_K8S_DIR ||
    join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'agent-safe', `k8s-${K8S_VERSION}`);
  return join(base, 'bin');
}

/** Throws with the exact install command (in CI as everywhere: these tests are never skipped). */
export function requireK8sBinaries(controllerManager = false): string {
  const bin = k8sBinDir();
  const names = [
    'etcd',
    'kube-apiserver',
    'kubectl',
    ...(controllerManager ? ['kube-controller-manager'] : []),
  ];
  const missing = names.filter((name) => !existsSync(join(bin, name)));
  const apiserver = missing.includes('kube-apiserver')
    ? undefined
    : spawnSync(join(bin, 'kube-apiserver'), ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (missing.length > 0 || !apiserver?.stdout.includes(K8S_VERSION)) {
    throw new Error(
      `the Kubernetes test binaries (kube-apiserver ${K8S_VERSION}, etcd ${ETCD_VERSION}) are not in ${bin}` +
        `${missing.length > 0 ? ` (missing: ${missing.join(', ')})` : ' (wrong version)'}: ` +
        `run \`${INSTALL_COMMAND}\` from the repository root (once per machine, ~12-17 min on 2 cores). ` +
        `These tests run against a real API server and are never skipped${process.env.CI ? ' (CI must install it first)' : ''}.`,
    );
  }
  return bin;
}

/** Distinct ports that were free a moment ago on 127.0.0.1. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i += 1) {
      const server = createServer();
      servers.push(server);
      ports.push(
        await new Promise<number>((resolvePort, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => {
            const address = server.address();
            resolvePort(typeof address === 'object' && address ? address.port : 0);
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
  }
}

/** HTTP status of a GET (0 when nothing answers). */
async function getStatus(url: string, init: { ca?: string; token?: string } = {}): Promise<number> {
  if (url.startsWith('http:')) {
    try {
      return (await fetch(url, { signal: AbortSignal.timeout(1000) })).status;
    } catch {
      return 0;
    }
  }
  return await new Promise((resolveStatus) => {
    const req = request(
      url,
      {
        ca: init.ca,
        timeout: 1000,
        headers: init.token ? { Authorization: `Bearer ${init.token}` } : {},
      },
      (res) => {
        res.resume();
        resolveStatus(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveStatus(0));
    req.end();
  });
}

const running = new Set<ChildProcess>();
let exitHook = false;

/** Starts a fresh, private cluster in a temp dir on free loopback ports and waits for `/readyz`. */
export async function startK8sCluster(options: StartOptions = {}): Promise<K8sCluster> {
  const bin = requireK8sBinaries(options.controllerManager);
  const dir = await mkdtemp(join(tmpdir(), 'agent-safe-k8s-'));
  const pki = join(dir, 'pki');
  const [etcdPort, peerPort, apiPort] = (await freePorts(3)) as [number, number, number];
  const url = `https://127.0.0.1:${apiPort}`;
  const adminToken = randomBytes(24).toString('hex');
  const servingPath = join(pki, 'apiserver.crt'); // kube-apiserver writes its self-signed cert, then its CA
  const caPath = join(pki, 'ca.crt');
  const kubeconfigPath = join(dir, 'kubeconfig');
  const children: { name: string; child: ChildProcess; log: () => string }[] = [];

  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const child of running) child.kill('SIGKILL');
    });
  }

  const launch = (name: string, file: string, args: string[]): void => {
    const child = spawn(join(bin, file), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-6000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('exit', () => running.delete(child));
    running.add(child);
    children.unshift({ name, child, log: () => output });
  };

  const stop = async (): Promise<void> => {
    for (const { child } of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const waitFor = async (what: string, seconds: number, ready: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
      if (await ready()) return;
      const dead = children.find(({ child }) => child.exitCode !== null || child.signalCode !== null);
      if (dead) break;
      await new Promise((wait) => setTimeout(wait, 100));
    }
    const logs = children.map(({ name, log }) => `--- ${name}\n${log().slice(-2000)}`).join('\n');
    await stop();
    throw new Error(`${what} did not become ready within ${seconds} s:\n${logs}`);
  };

  try {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await mkdir(pki, { recursive: true, mode: 0o700 });
    await writeFile(join(pki, 'sa.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }), {
      mode: 0o600,
    });
    await writeFile(join(pki, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(
      join(pki, 'tokens.csv'),
      `${adminToken},agent-safe-admin,agent-safe-admin,system:masters\n`,
      {
        mode: 0o600,
      },
    );

    launch('etcd', 'etcd', [
      '--name=test',
      `--data-dir=${join(dir, 'etcd')}`,
      '--unsafe-no-fsync',
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=test=http://127.0.0.1:${peerPort}`,
    ]);
    await waitFor('etcd', 30, async () => (await getStatus(`http://127.0.0.1:${etcdPort}/health`)) === 200);

    // ServiceAccount admission off: no controller creates a namespace's default ServiceAccount in time.
    launch('kube-apiserver', 'kube-apiserver', [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${pki}`,
      '--authorization-mode=RBAC',
      `--token-auth-file=${join(pki, 'tokens.csv')}`,
      `--service-account-issuer=${url}`,
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--disable-admission-plugins=ServiceAccount',
      '--endpoint-reconciler-type=none',
    ]);
    await waitFor('kube-apiserver', 120, async () => {
      if (!existsSync(servingPath)) return false;
      // Re-read each time: the first read may race kube-apiserver writing its self-signed certificate.
      const ca = await readFile(servingPath, 'utf8');
      return (await getStatus(`${url}/readyz`, { ca, token: adminToken })) === 200;
    });
    // The CA alone (the last PEM block): kube-controller-manager publishes it and wants a CA first.
    const blocks = (await readFile(servingPath, 'utf8')).match(
      /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g,
    );
    if (!blocks || blocks.length < 2)
      throw new Error(`${servingPath} does not hold a certificate and its CA`);
    await writeFile(caPath, `${blocks[blocks.length - 1]}\n`);

    await writeFile(
      kubeconfigPath,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: agent-safe-test',
        `  cluster: {server: "${url}", certificate-authority: "${caPath}"}`,
        'users:',
        '- name: agent-safe-admin',
        `  user: {token: "${adminToken}"}`,
        'contexts:',
        '- name: agent-safe-test',
        '  context: {cluster: agent-safe-test, user: agent-safe-admin, namespace: default}',
        'current-context: agent-safe-test',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );

    if (options.controllerManager) {
      launch('kube-controller-manager', 'kube-controller-manager', [
        `--kubeconfig=${kubeconfigPath}`,
        '--bind-address=127.0.0.1',
        '--secure-port=0',
        '--leader-elect=false',
        `--service-account-private-key-file=${join(pki, 'sa.key')}`,
        `--root-ca-file=${caPath}`,
        // No kubelet ever heartbeats here: the node lifecycle controller would mark the tests' own Nodes
        // NotReady after 40 s and taint them, and taint eviction would delete their pods mid-test.
        '--controllers=*,-node-lifecycle-controller,-taint-eviction-controller',
      ]);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    url,
    kubeconfigPath,
    caPath,
    adminToken,
    stop,
    kubectl: async (args, opts = {}) =>
      await new Promise<KubectlResult>((resolveRun) => {
        const child = execFile(
          join(bin, 'kubectl'),
          [`--kubeconfig=${kubeconfigPath}`, ...args],
          { encoding: 'utf8', timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
            resolveRun({ code, stdout, stderr });
          },
        );
        if (opts.input !== undefined) child.stdin?.end(opts.input);
        else child.stdin?.end();
      }),
  };
}
