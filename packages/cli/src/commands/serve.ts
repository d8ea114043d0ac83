import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { Command, Option } from 'clipanion';
import { ConfigCommand } from '../base-command.js';
import { CliError, usageError } from '../cli-error.js';
import { serveSettings } from '../serve-settings.js';

/**
 * `agent-safe serve`: the decision API over HTTP (docs/server.md). Runs until SIGTERM or SIGINT, then
 * finishes the requests in flight, flushes the audit log and exits 0.
 */
export class ServeCommand extends ConfigCommand {
  static override paths = [['serve']];
  static override usage = Command.Usage({
    description: 'Serve the decision API over HTTP (POST /v1/check …) until SIGTERM or SIGINT',
    details: `
      Serves POST /v1/check, /v1/check-plan and /v1/tickets/validate, and GET /healthz, /readyz, /metrics and
      /openapi.json, for the project in the working directory (docs/server.md). Prints one line with the URL on
      stdout. With identity configured the caller is the bearer token (\`Authorization: Bearer <token>\`).

      Listens on 127.0.0.1 unless \`--host\` says otherwise: every interface (0.0.0.0) must be asked for.
      SIGTERM or SIGINT stop accepting connections, let requests in flight finish, flush the audit log and
      exit 0.

      SIGHUP reloads the configuration (agent-safe.yaml, actions, policies, inventory): the new one is loaded
      and validated first, then serves new requests while requests in flight finish on the old one. A
      configuration that fails to load is reported on stderr and the old one keeps serving. \`--watch\` reloads
      on file changes too; \`POST /v1/admin/reload\` does the same for tokens holding an \`--admin-role\`.

      \`--executor\` enables POST /v1/execute (docs/server.md, "API: execute"): an agent sends the ticket of
      its ALLOW decision and its params, and the server runs it with this executor (\`dry-run\`, \`kubectl\`,
      \`kubernetes\` or \`aws\`), where \`--kubeconfig\` / \`--context\` or \`--region\` / \`--endpoint\` say,
      as \`runner execute\` does; a request never chooses them. Only the agent the ticket was issued to may
      run it, once: nonces go to the project's \`store\`, else to .agent-safe/state beside agent-safe.yaml.
      \`--execute-timeout\` bounds a run (seconds, default 60, at most 300). \`--credentials kubernetes\`
      (\`--credential-namespace\`) or \`--credentials aws --role-arn ARN\` give each run a scoped, short-lived
      credential revoked when it ends, as for \`runner execute\`.

      \`--shadow-policy\` (or \`shadow: { policies }\` in agent-safe.yaml) evaluates candidate policies beside
      the enforced ones on every check (docs/server.md, "Shadow mode"): a different answer is recorded as a
      \`shadow_difference\` audit event and counted in /metrics, and never changes an answer. A reload reloads
      them too, and \`--watch\` watches them.

      \`--tls-cert\` and \`--tls-key\` serve HTTPS; \`--tls-client-ca\` also requires a client certificate
      signed by that CA, refused during the TLS handshake otherwise (docs/server.md, "TLS"). The \`server:\`
      block of agent-safe.yaml may set them (\`tls: { cert, key, client_ca }\`), the admin roles
      (\`admin_roles\`) and Slack's interactions endpoint (\`slack: { signing_secret, users }\`, docs/server.md,
      "Slack approvals"); a flag overrides its setting.
    `,
    examples: [
      ['Serve on loopback, port 8080', '$0 serve'],
      [
        'Serve HTTPS; only clients with a certificate signed by ca.crt may connect',
        '$0 serve --tls-cert server.crt --tls-key server.key --tls-client-ca ca.crt',
      ],
      ['Pick a free port and log each request to stderr', '$0 serve --port 0 --log-requests'],
      [
        'Reload when the policies change; let tokens with role ops reload',
        '$0 serve --watch --admin-role ops',
      ],
      [
        'Try candidate policies on live traffic without enforcing them',
        '$0 serve --shadow-policy ./candidate-policies',
      ],
      [
        'Let agents execute their tickets through the Kubernetes API',
        '$0 serve --executor kubernetes --kubeconfig ~/.kube/config --execute-timeout 120',
      ],
    ],
  });

  host = Option.String('--host', { description: 'Interface to listen on (default 127.0.0.1)' });
  port = Option.String('--port', { description: 'TCP port (default 8080; 0 picks a free one)' });
  logRequests = Option.Boolean('--log-requests', false, {
    description: 'Log one JSON line per request to stderr',
  });
  watch = Option.Boolean('--watch', false, {
    description: 'Reload when agent-safe.yaml, the actions, policies or inventory change',
  });
  adminRoles = Option.Array('--admin-role', [], {
    description: 'A role whose identity tokens may call the admin endpoints (repeatable)',
  });

  shadowPolicy = Option.String('--shadow-policy', {
    description:
      'Candidate policies (directory or file) evaluated beside the enforced ones; differences are audited, never enforced',
  });

  executor = Option.String('--executor', {
    description: 'Enable POST /v1/execute with this executor: dry-run, kubectl, kubernetes or aws',
  });
  kubeconfig = Option.String('--kubeconfig', {
    description: 'Kubeconfig file (--executor kubectl, kubernetes)',
  });
  kubeContext = Option.String('--context', {
    description: 'Kubeconfig context (--executor kubectl, kubernetes)',
  });
  region = Option.String('--region', { description: 'Default AWS region (--executor aws)' });
  endpoint = Option.String('--endpoint', {
    description: 'AWS endpoint override (--executor aws; moto, LocalStack)',
  });
  tlsCert = Option.String('--tls-cert', { description: 'Serve HTTPS with this certificate (PEM file)' });
  tlsKey = Option.String('--tls-key', { description: 'The private key of --tls-cert (PEM file)' });
  tlsClientCa = Option.String('--tls-client-ca', {
    description: 'Require client certificates signed by this CA (PEM file): mutual TLS',
  });
  executeTimeout = Option.String('--execute-timeout', {
    description: 'Longest run of POST /v1/execute in seconds (default 60, at most 300)',
  });
  credentials = Option.String('--credentials', {
    description:
      'none (default), kubernetes (a scoped ServiceAccount token per run) or aws (a scoped STS session of --role-arn per run), as runner execute',
  });
  credentialNamespace = Option.String('--credential-namespace', {
    description: 'Namespace of the per-run ServiceAccounts (--credentials kubernetes; default agent-safe)',
  });
  roleArn = Option.String('--role-arn', {
    description: 'IAM role each run assumes with its session policy (--credentials aws)',
  });

  async run(): Promise<number> {
    const port = this.port === undefined ? 8080 : Number(this.port);
    if (!/^\d{1,5}$/.test(this.port ?? '8080') || port > 65535) {
      throw usageError(`--port must be a TCP port number from 0 to 65535, got "${this.port}"`);
    }
    const host = this.host ?? '127.0.0.1';
    const config = await this.projectConfig();
    const execute = await this.executeOptions(config);
    const settings = await serveSettings(this, config);
    const safe = await this.open({
      auditLog: config.auditLog ?? './audit.jsonl',
      ...(this.shadowPolicy ? { shadowPolicies: this.shadowPolicy } : {}),
    });
    const { startServer } = await import('@agent-safe/server');
    const { AgentSafe, loadProjectConfig } = await import('@agent-safe/sdk/facade');
    const stderr = this.context.stderr;
    const { analysePolicies, checkAuditShippers } = await import('@agent-safe/sdk');
    // A reload reads every file again (no parse cache): the configuration on disk is what serves next. It
    // must pass what `agent-safe validate` counts as errors; the server then checks that the keys import.
    const rebuild = async () => {
      const fresh = loadProjectConfig({ file: this.config });
      const candidate = new AgentSafe({
        ...(this.registry ? { registry: this.registry } : {}),
        ...(this.policies ? { policies: this.policies } : {}),
        ...(this.inventory ? { inventory: this.inventory } : {}),
        ...(this.config ? { config: this.config } : {}),
        auditLog: fresh.auditLog ?? './audit.jsonl',
        ...(this.shadowPolicy ? { shadow: { policies: this.shadowPolicy } } : {}),
      });
      const errors = [
        ...analysePolicies({
          rules: candidate.pdp.rules,
          actions: candidate.registry,
          targets: candidate.inventory,
        })
          .filter((finding) => finding.severity === 'error')
          .map((finding) => [finding.file, finding.rule, finding.message].filter(Boolean).join(': ')),
        ...checkAuditShippers(fresh)
          .filter((finding) => finding.severity === 'error')
          .map((finding) => `audit_shippers: ${finding.message}`),
      ];
      if (errors.length > 0) {
        await candidate.close();
        const more = errors.length > 5 ? `; and ${errors.length - 5} more` : '';
        throw new Error(
          `${errors.length} error(s) that agent-safe validate reports: ${errors.slice(0, 5).join('; ')}${more}`,
        );
      }
      return candidate;
    };
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer({
        safe,
        reload: rebuild,
        ...settings,
        ...(execute ? { execute } : {}),
        host,
        port,
        ...(this.logRequests ? { onRequest: (entry) => stderr.write(`${JSON.stringify(entry)}\n`) } : {}),
      });
    } catch (error) {
      await safe.close();
      await execute?.nonceStore?.close();
      const code = (error as NodeJS.ErrnoException).code;
      throw new CliError(
        'USAGE',
        code === 'EADDRINUSE'
          ? `${host}:${port} is already in use; choose another --port`
          : `cannot listen on ${host}:${port}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const reload = (trigger: string) => {
      void server.reload(trigger).then((status) => {
        stderr.write(
          status.ok
            ? `agent-safe serve: configuration reloaded (${trigger}), policy revision ${status.policyRevision}\n`
            : `agent-safe serve: configuration reload (${trigger}) failed, still serving revision ${status.policyRevision}: ${status.error}\n`,
        );
      });
    };
    const onHangUp = () => reload('signal');
    process.on('SIGHUP', onHangUp);
    const watchers = this.watch ? this.watchProject(config, () => reload('watch')) : [];
    this.print(`agent-safe serve listening on ${server.url}`);
    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        done();
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    process.off('SIGHUP', onHangUp);
    for (const watcher of watchers) watcher.close();
    await server.close();
    await execute?.nonceStore?.close();
    return 0;
  }

  /**
   * The per-run credential provider of `--credentials` (as `runner execute`): `kubernetes` issues a
   * ServiceAccount token scoped by the action's credentials block, as the kubeconfig's identity;
   * `aws` assumes `--role-arn` with a session policy. Flags that do not fit are USAGE errors.
   */
  private async credentialProvider(executor: string) {
    const kind = this.credentials ?? 'none';
    if (kind !== 'none' && kind !== 'kubernetes' && kind !== 'aws') {
      throw usageError(`--credentials must be none, kubernetes or aws, got "${kind.slice(0, 40)}"`);
    }
    if (kind === 'kubernetes' && executor !== 'kubernetes' && executor !== 'k8s') {
      throw usageError(
        '--credentials kubernetes needs --executor kubernetes: only it acts with the per-run token',
      );
    }
    if (kind === 'aws' && executor !== 'aws') {
      throw usageError('--credentials aws needs --executor aws: only it acts with the per-run STS session');
    }
    if (kind === 'aws' && this.roleArn === undefined) {
      throw usageError('--credentials aws needs --role-arn ARN: the IAM role each run assumes');
    }
    if (this.roleArn !== undefined && kind !== 'aws')
      throw usageError('--role-arn applies to --credentials aws');
    if (this.credentialNamespace !== undefined && kind !== 'kubernetes') {
      throw usageError('--credential-namespace applies to --credentials kubernetes');
    }
    if (kind === 'none') return undefined;
    const sdk = await import('@agent-safe/sdk');
    if (kind === 'aws') {
      const { roleArnArgument } = await import('./runner.js');
      const config = await this.projectConfig();
      const aws = sdk.resolveAwsOptions(
        {
          ...(this.region !== undefined ? { region: this.region } : {}),
          ...(this.endpoint !== undefined ? { endpoint: this.endpoint } : {}),
        },
        config.aws,
        process.env,
        (key) => `--${key}`,
      );
      return new sdk.StsCredentialProvider({ roleArn: roleArnArgument(this.roleArn as string), ...aws });
    }
    const namespace = this.credentialNamespace ?? 'agent-safe';
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) {
      throw usageError(
        `--credential-namespace must be a Kubernetes namespace name (a DNS-1123 label), got "${namespace.slice(0, 70)}"`,
      );
    }
    const api = await sdk.kubernetesCredentialApi({
      ...(this.kubeconfig !== undefined ? { kubeconfig: this.kubeconfig } : {}),
      ...(this.kubeContext !== undefined ? { context: this.kubeContext } : {}),
    });
    return new sdk.KubernetesCredentialProvider({ api, namespace });
  }

  /**
   * The runner of POST /v1/execute from --executor and its flags (checked before anything listens), with
   * a file nonce store beside agent-safe.yaml unless the project's store is shared (file or Redis).
   */
  private async executeOptions(config: { readonly store?: string; readonly file?: string }) {
    const flags = {
      kubeconfig: this.kubeconfig,
      context: this.kubeContext,
      region: this.region,
      endpoint: this.endpoint,
    };
    if (this.executor === undefined) {
      const given = Object.entries({
        ...flags,
        'execute-timeout': this.executeTimeout,
        credentials: this.credentials,
        'credential-namespace': this.credentialNamespace,
        'role-arn': this.roleArn,
      }).find(([, value]) => value !== undefined);
      if (given)
        throw usageError(
          `--${given[0]} applies to POST /v1/execute: add --executor dry-run|kubectl|kubernetes|aws`,
        );
      return undefined;
    }
    const { executorArgument, nonceStoreFor, timeoutMilliseconds } = await import('./enforcement-input.js');
    const executor = executorArgument(this.executor);
    const seconds = this.executeTimeout;
    if (
      seconds !== undefined &&
      (!/^[0-9]{1,3}$/.test(seconds) || Number(seconds) < 1 || Number(seconds) > 300)
    ) {
      throw usageError(
        `--execute-timeout must be a whole number of seconds from 1 to 300, got "${seconds.slice(0, 40)}"`,
      );
    }
    const timeoutMs = timeoutMilliseconds(seconds);
    const { checkExecuteOptions } = await import('@agent-safe/server');
    const options = {
      executor,
      ...Object.fromEntries(Object.entries(flags).filter(([, value]) => value !== undefined)),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    };
    try {
      checkExecuteOptions(options);
    } catch (error) {
      throw usageError(
        (error instanceof Error ? error.message : String(error))
          .replace('execute options: ', '')
          .replace(/\b(kubeconfig|context|region|endpoint)\b/g, '--$1'),
      );
    }
    const credentials = await this.credentialProvider(executor);
    const { CLI_STATE_DIRECTORY, openNonceStore } = await import('@agent-safe/sdk');
    const store = nonceStoreFor(config, CLI_STATE_DIRECTORY);
    return {
      ...options,
      ...(credentials !== undefined ? { credentials } : {}),
      ...(store !== undefined ? { nonceStore: await openNonceStore(store.replace(/^file:/, '')) } : {}),
    };
  }

  /**
   * Watches agent-safe.yaml, the inventory (through their directories, by name: editors replace files)
   * and the actions and policies directories; calls `changed` 300 ms after the last change.
   */
  private watchProject(
    config: { registry?: string; policies?: string; inventory?: string; shadow?: { policies: unknown } },
    changed: () => void,
  ): FSWatcher[] {
    const base = this.config ? dirname(resolve(this.config)) : process.cwd();
    const at = (flag: string | undefined, configured: string | undefined, fallback: string) =>
      flag ? resolve(flag) : resolve(base, configured ?? fallback);
    const files = [
      this.config ? resolve(this.config) : resolve(base, 'agent-safe.yaml'),
      at(this.inventory, config.inventory, './inventory.yaml'),
    ];
    const directories = [
      at(this.registry, config.registry, './actions'),
      at(this.policies, config.policies, './policies'),
    ];
    // Shadow policies: the flag (relative to the working directory) or the file's (already absolute).
    const shadow = this.shadowPolicy ?? config.shadow?.policies;
    if (typeof shadow === 'string') directories.push(resolve(shadow));
    let timer: NodeJS.Timeout | undefined;
    const later = () => {
      clearTimeout(timer);
      timer = setTimeout(changed, 300);
      timer.unref();
    };
    const watchers: FSWatcher[] = [];
    const add = (path: string, only?: string) => {
      try {
        const watcher = watch(path, { persistent: false }, (_event, name) => {
          if (only === undefined || name === only) later();
        });
        watcher.on('error', () => watcher.close());
        watchers.push(watcher);
      } catch (error) {
        this.context.stderr.write(
          `agent-safe serve: cannot watch ${path}: ${error instanceof Error ? error.message : String(error)}\n`,
        );
      }
    };
    for (const file of files) add(dirname(file), basename(file));
    for (const directory of directories) add(directory);
    return watchers;
  }
}
