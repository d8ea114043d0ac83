import { canonicalJson } from '@agent-safe/core';
import type { AuditEvent } from '@agent-safe/core';
import { sha256Hex } from './sha256.js';

/**
 * The `hash` of an audit event: SHA-256 (lowercase hex) of the UTF-8 bytes of the RFC 8785 canonical
 * JSON of the event with every member except `hash` (so it covers `sequence` and `prev_hash`).
 * A `hash` member on the input is ignored, so a stored event can be passed as it is.
 */
export function hashAuditEvent(eventWithoutHash: Omit<AuditEvent, 'hash'> | AuditEvent): string {
  const { hash: _ignored, ...rest } = eventWithoutHash as AuditEvent;
  return sha256Hex(canonicalJson(rest));
}
