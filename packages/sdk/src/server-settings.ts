import { isAbsolute, resolve } from 'node:path';
import type { Issue } from '@agent-safe/core';

/** A Slack user's approver identity (`server.slack.users`). */
export interface ServerSlackUser {
  readonly agentId: string;
  /** Roles of the identity it votes as; absent: the configured approver roles. */
  readonly roles?: readonly string[];
}

/** `server.slack`: Slack's interactions endpoint (docs/server.md, "Slack approvals"). */
export interface ServerSlackSettings {
  /** Where the signing secret is: `env:NAME` or `file:PATH` (absolute), never the secret itself. */
  readonly signingSecret: string;
  /** Slack user id → approver identity. */
  readonly users: Readonly<Record<string, ServerSlackUser>>;
}

/** `server.tls`: files (absolute paths) for HTTPS and, with `clientCa`, mutual TLS. */
export interface ServerTlsSettings {
  readonly cert: string;
  readonly key: string;
  readonly clientCa?: string;
}

/** The `server:` block of agent-safe.yaml: settings of `agent-safe serve` (its flags override them). */
export interface ServerSettings {
  /** Roles whose tokens may call the admin endpoints (`--admin-role`). */
  readonly adminRoles?: readonly string[];
  readonly slack?: ServerSlackSettings;
  readonly tls?: ServerTlsSettings;
}

const ROLE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,254}$/;
const SLACK_USER_ID = /^[UW][A-Z0-9]{2,30}$/;

/** Parses the `server:` block; problems are pushed to `issues`, each naming the key and the fix. */
export function parseServerBlock(
  value: unknown,
  base: string,
  file: string,
  issues: Issue[],
): ServerSettings | undefined {
  const add = (path: string, message: string) => issues.push({ file, path, message });
  if (!isMapping(value)) {
    add('server', 'expected a mapping: admin_roles, slack, tls');
    return undefined;
  }
  const settings: { adminRoles?: string[]; slack?: ServerSlackSettings; tls?: ServerTlsSettings } = {};
  for (const [name, member] of Object.entries(value)) {
    const path = `server.${name}`;
    if (name === 'admin_roles') {
      const roles = roleList(member);
      if (roles === undefined) add(path, 'expected a list of role names, e.g. [ops]');
      else settings.adminRoles = roles;
    } else if (name === 'slack') {
      const slack = slackBlock(member, base, path, add);
      if (slack !== undefined) settings.slack = slack;
    } else if (name === 'tls') {
      const tls = tlsBlock(member, base, path, add);
      if (tls !== undefined) settings.tls = tls;
    } else add(path, 'unknown setting; expected admin_roles, slack, tls');
  }
  return settings;
}

function slackBlock(
  value: unknown,
  base: string,
  path: string,
  add: (path: string, message: string) => void,
): ServerSlackSettings | undefined {
  if (!isMapping(value)) {
    add(
      path,
      'expected a mapping: signing_secret (env:NAME or file:PATH), users ({ U0123ABCD: approver-id })',
    );
    return undefined;
  }
  let signingSecret: string | undefined;
  let users: Record<string, ServerSlackUser> | undefined;
  for (const [name, member] of Object.entries(value)) {
    if (name === 'signing_secret') {
      signingSecret = secretSource(member, base);
      if (signingSecret === undefined) {
        add(
          `${path}.signing_secret`,
          "expected env:NAME or file:PATH holding the Slack app's signing secret; never put the secret itself in this file",
        );
      }
    } else if (name === 'users') {
      if (!isMapping(member) || Object.keys(member).length === 0) {
        add(
          `${path}.users`,
          'expected a mapping of Slack user ids to approver ids, e.g. { U0123ABCD: alice }',
        );
        continue;
      }
      users = {};
      for (const [user, approver] of Object.entries(member)) {
        const at = `${path}.users.${user}`;
        if (!SLACK_USER_ID.test(user)) {
          add(at, 'expected a Slack user id such as U0123ABCD (Slack: profile → Copy member ID)');
          continue;
        }
        if (typeof approver === 'string' && AGENT_ID.test(approver)) {
          users[user] = { agentId: approver };
          continue;
        }
        if (!isMapping(approver)) {
          add(at, 'expected an approver agent id, or { agent: ID, roles: [ROLE, …] }');
          continue;
        }
        const unknown = Object.keys(approver).filter((key) => key !== 'agent' && key !== 'roles');
        if (unknown.length > 0) add(`${at}.${unknown[0]}`, 'unknown setting; expected agent, roles');
        const agent = approver.agent;
        const roles = approver.roles === undefined ? undefined : roleList(approver.roles);
        if (typeof agent !== 'string' || !AGENT_ID.test(agent)) add(`${at}.agent`, 'expected an agent id');
        else if (approver.roles !== undefined && roles === undefined) {
          add(`${at}.roles`, 'expected a non-empty list of role names, e.g. [approver]');
        } else users[user] = roles === undefined ? { agentId: agent } : { agentId: agent, roles };
      }
    } else add(`${path}.${name}`, 'unknown setting; expected signing_secret, users');
  }
  if (signingSecret === undefined || users === undefined) {
    if (signingSecret === undefined && !('signing_secret' in value)) {
      add(`${path}.signing_secret`, 'missing: signing_secret: env:SLACK_SIGNING_SECRET');
    }
    if (!('users' in value)) add(`${path}.users`, 'missing: users: { U0123ABCD: approver-id }');
    return undefined;
  }
  return { signingSecret, users };
}

function tlsBlock(
  value: unknown,
  base: string,
  path: string,
  add: (path: string, message: string) => void,
): ServerTlsSettings | undefined {
  if (!isMapping(value)) {
    add(path, 'expected a mapping: cert, key (PEM files), client_ca (optional, for mutual TLS)');
    return undefined;
  }
  const files: Record<string, string> = {};
  for (const [name, member] of Object.entries(value)) {
    if (name !== 'cert' && name !== 'key' && name !== 'client_ca') {
      add(`${path}.${name}`, 'unknown setting; expected cert, key, client_ca');
    } else if (
      typeof member !== 'string' ||
      member.length === 0 ||
      member.length > 4096 ||
      member.includes('\0')
    ) {
      add(`${path}.${name}`, 'expected the path of a PEM file');
    } else files[name] = isAbsolute(member) ? member : resolve(base, member);
  }
  for (const name of ['cert', 'key'] as const) {
    if (!(name in value)) {
      add(`${path}.${name}`, `missing: the ${name === 'cert' ? 'certificate' : 'private key'} PEM file`);
    }
  }
  if (files.cert === undefined || files.key === undefined) return undefined;
  return {
    cert: files.cert,
    key: files.key,
    ...(files.client_ca !== undefined ? { clientCa: files.client_ca } : {}),
  };
}

function secretSource(value: unknown, base: string): string | undefined {
  if (typeof value !== 'string') return undefined;
  if (/^env:[A-Za-z_][A-Za-z0-9_]*$/.test(value)) return value;
  if (!value.startsWith('file:')) return undefined;
  const path = value.slice(5);
  if (path.length === 0 || path.length > 4096 || path.includes('\0')) return undefined;
  return `file:${isAbsolute(path) ? path : resolve(base, path)}`;
}

function roleList(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > 64) return undefined;
  if (!value.every((role) => typeof role === 'string' && ROLE.test(role))) return undefined;
  return [...value];
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
