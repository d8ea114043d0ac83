import type { AuditEvent } from '@agent-safe/core';

const HEX_64 = /^[0-9a-f]{64}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A line that parsed into an audit event, or why it did not. */
export type ParsedLine =
  | { readonly ok: true; readonly event: AuditEvent; readonly text: string }
  | { readonly ok: false; readonly reason: string };

/**
 * Parses one stored line (without its newline) and checks that it has the shape of a stored event:
 * an object with a positive integer `sequence`, 64-hex `hash` and `prev_hash`, and a string `event_type`.
 */
export function parseEventLine(bytes: Uint8Array): ParsedLine {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, reason: 'is not valid UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `is not valid JSON (${(error as Error).message})` };
  }
  const problem = eventShapeProblem(value);
  if (problem !== undefined) return { ok: false, reason: problem };
  return { ok: true, event: value as AuditEvent, text };
}

/** Why a parsed value is not a stored audit event, or undefined when it is one. */
export function eventShapeProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return 'is JSON but not an object';
  }
  const record = value as Record<string, unknown>;
  const sequence = record.sequence;
  if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 1) {
    return 'is not an audit event: "sequence" must be a positive integer';
  }
  if (typeof record.hash !== 'string' || !HEX_64.test(record.hash)) {
    return 'is not an audit event: "hash" must be 64 lowercase hex digits';
  }
  if (typeof record.prev_hash !== 'string' || !HEX_64.test(record.prev_hash)) {
    return 'is not an audit event: "prev_hash" must be 64 lowercase hex digits';
  }
  if (typeof record.event_type !== 'string') {
    return 'is not an audit event: "event_type" must be a string';
  }
  return undefined;
}
