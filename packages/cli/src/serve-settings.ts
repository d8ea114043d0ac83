import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ProjectConfig } from '@agent-safe/sdk';
import { CliError, usageError } from './cli-error.js';

/** The flags of `agent-safe serve` that override the `server:` block of agent-safe.yaml. */
export interface ServeFlags {
  readonly adminRoles: readonly string[];
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  readonly tlsClientCa?: string | undefined;
}

/** What `startServer` gets from the flags and the `server:` block. */
export interface ServeSettings {
  readonly adminRoles: readonly string[];
  readonly slack?: {
    readonly signingSecret: string;
    readonly users: Readonly<
      Record<string, { readonly agentId: string; readonly roles?: readonly string[] }>
    >;
  };
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca?: string };
}

/** The largest certificate or key file read. */
const MAX_PEM_BYTES = 1024 * 1024;

/**
 * Admin roles, Slack and TLS for `agent-safe serve`: each flag overrides its `server:` setting (docs/cli.md,
 * serve). Reads the TLS files and the Slack signing secret; errors name the flag or setting and the fix.
 */
export async function serveSettings(flags: ServeFlags, config: ProjectConfig): Promise<ServeSettings> {
  const server = config.server;
  const adminRoles = flags.adminRoles.length > 0 ? flags.adminRoles : (server?.adminRoles ?? []);
  const pick = (flag: string | undefined, configured: string | undefined, name: string, setting: string) =>
    flag !== undefined
      ? { path: resolve(flag), name }
      : configured !== undefined
        ? { path: configured, name: setting }
        : undefined;
  const cert = pick(flags.tlsCert, server?.tls?.cert, '--tls-cert', 'server.tls.cert');
  const key = pick(flags.tlsKey, server?.tls?.key, '--tls-key', 'server.tls.key');
  const ca = pick(flags.tlsClientCa, server?.tls?.clientCa, '--tls-client-ca', 'server.tls.client_ca');
  if ((cert === undefined) !== (key === undefined)) {
    throw usageError(
      `${cert ? cert.name : key!.name} needs ${cert ? '--tls-key' : '--tls-cert'} too: HTTPS needs both the certificate and its private key (PEM files)`,
    );
  }
  if (ca !== undefined && cert === undefined) {
    throw usageError(
      `${ca.name} needs --tls-cert and --tls-key: client certificates are checked over HTTPS only`,
    );
  }
  let slack: ServeSettings['slack'];
  if (server?.slack) {
    const { readSecretSource } = await import('@agent-safe/sdk');
    slack = {
      signingSecret: await readSecretSource(server.slack.signingSecret, 'server.slack.signing_secret'),
      users: server.slack.users,
    };
  }
  return {
    adminRoles,
    ...(slack ? { slack } : {}),
    ...(cert && key
      ? {
          tls: {
            cert: await readPem(cert),
            key: await readPem(key),
            ...(ca ? { ca: await readPem(ca) } : {}),
          },
        }
      : {}),
  };
}

/** A PEM file's text (at most 1 MiB); FILE_UNREADABLE naming the flag or setting otherwise. */
async function readPem(file: { path: string; name: string }): Promise<string> {
  const refuse = (message: string) =>
    new CliError('FILE_UNREADABLE', `${file.name}: ${file.path}: ${message}`, {
      issues: [{ file: file.path, path: file.name, message }],
    });
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file.path, 'r');
  } catch (error) {
    throw refuse(`cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'}); check the path`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw refuse('not a regular file; pass a PEM file');
    if (info.size > MAX_PEM_BYTES) throw refuse(`larger than ${MAX_PEM_BYTES} bytes; pass a PEM file`);
    const text = await handle.readFile('utf8');
    if (!text.includes('-----BEGIN ')) throw refuse('not PEM (no -----BEGIN line); pass a PEM file');
    return text;
  } finally {
    await handle.close();
  }
}
