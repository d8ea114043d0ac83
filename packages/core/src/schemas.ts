import * as v from 'valibot';
import { DECISION_RESULTS } from './decision.js';
import { RISK_CLASSES } from './risk-class.js';

export { MAX_ID_LENGTH } from './limits.js';
import { MAX_ID_LENGTH } from './limits.js';

const id = v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_ID_LENGTH));

/** Wire schema of a check request (JSON bodies, plan files, CLI input). */
export const CheckRequestSchema = v.strictObject({
  action: id,
  target: v.optional(id),
  caller: v.optional(id),
  params: v.optional(v.record(v.string(), v.unknown())),
  ticketId: v.optional(id),
  correlationId: v.optional(id),
  context: v.optional(v.record(v.string(), v.unknown())),
});

/** Wire schema of a decision as printed by `check --json-output`. */
export const DecisionWireSchema = v.object({
  result: v.picklist(DECISION_RESULTS),
  reason: v.string(),
  action: v.string(),
  target: v.string(),
  caller: v.string(),
  matchedRule: v.nullable(v.string()),
  riskClass: v.nullable(v.picklist(RISK_CLASSES)),
  effectiveRisk: v.nullable(v.picklist(RISK_CLASSES)),
  auditId: v.string(),
  ticketId: v.nullable(v.string()),
});
