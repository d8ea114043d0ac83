import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AuditEvent,
  type AuditEventBody,
  type AuditSink,
  type ExecutionContext,
  type ExecutionOutcome,
  type ExecutionRequest,
  type Executor,
  ManualClock,
  type PrecheckOutcome,
} from '@agent-safe/core';
import { ActionRegistry, parseYaml } from '@agent-safe/registry';
import { TicketIssuer, TicketValidator } from '@agent-safe/tickets';

/** The curated catalogue itself (tests exercise what ships). */
export const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'catalog', 'kubernetes');
export const SECRET = 'runner-test-secret-with-at-least-32-bytes!';

/** The catalogue copy as raw definitions, optionally edited. */
export function catalogueDefinitions(edit?: (definition: Record<string, unknown>) => void): unknown[] {
  return readdirSync(FIXTURES)
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .map((name) => {
      const raw = parseYaml(readFileSync(join(FIXTURES, name), 'utf8'), name) as Record<string, unknown>;
      edit?.(raw);
      return raw;
    });
}

export function catalogue(edit?: (definition: Record<string, unknown>) => void): ActionRegistry {
  return ActionRegistry.fromDefinitions(catalogueDefinitions(edit));
}

/** Collects every appended body, with a chain-less sequence; optionally fails on a given event type. */
export class MemorySink implements AuditSink {
  readonly events: AuditEventBody[] = [];
  failOn: string | undefined;
  async append(event: AuditEventBody): Promise<AuditEvent> {
    if (this.failOn !== undefined && event.event_type === this.failOn) throw new Error('disk full');
    this.events.push(event);
    return { ...event, sequence: this.events.length, prev_hash: '', hash: '' };
  }
  async close(): Promise<void> {}
  types(): string[] {
    return this.events.map((event) => event.event_type);
  }
  ofType(type: string): AuditEventBody[] {
    return this.events.filter((event) => event.event_type === type);
  }
}

/** A scripted executor that records every call in order (an in-process stand-in for the port, not a server). */
export class RecordingExecutor implements Executor {
  readonly name = 'recording';
  readonly calls: string[] = [];
  state: Record<string, unknown> = { replicas: 2, ready_replicas: 2 };
  prechecks: Record<string, PrecheckOutcome> = {};
  executeImpl: (request: ExecutionRequest, context: ExecutionContext) => Promise<ExecutionOutcome> = async (
    request,
  ) => {
    if (typeof request.params.replicas === 'number')
      this.state = { ...this.state, replicas: request.params.replicas };
    return { ok: true, output: 'done' };
  };
  plan(): [] {
    return [];
  }
  async execute(request: ExecutionRequest, context: ExecutionContext): Promise<ExecutionOutcome> {
    this.calls.push('execute');
    return this.executeImpl(request, context);
  }
  async readState(_request: ExecutionRequest, fields: readonly string[]): Promise<Record<string, unknown>> {
    this.calls.push('readState');
    return Object.fromEntries(Object.entries(this.state).filter(([name]) => fields.includes(name)));
  }
  async precheck(name: string): Promise<PrecheckOutcome> {
    this.calls.push(`precheck:${name}`);
    return this.prechecks[name] ?? { status: 'pass', reason: 'ok' };
  }
}

export function tickets(clock: ManualClock) {
  const issuer = new TicketIssuer({ algorithm: 'HS256', key: SECRET, clock, ttlSeconds: 60 });
  const validator = new TicketValidator({ algorithm: 'HS256', key: SECRET, clock, clockSkewSeconds: 0 });
  const issue = async (action: string, params: Record<string, unknown>, target = 'prod/web') =>
    (
      await issuer.issue({
        action,
        target,
        caller: 'deploy-bot',
        params,
        auditId: 'evt_decision1',
        policyRevision: 'rev1',
      })
    ).token;
  return { issuer, validator, issue };
}

export function newClock(): ManualClock {
  return new ManualClock(Date.UTC(2026, 0, 1, 12));
}
