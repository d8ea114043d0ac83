import type { Decision } from '@agent-safe/sdk';
import { EXIT } from './exit-codes.js';
import { colourResult, printable, type Style } from './output.js';

/**
 * How `check` and `rollback check` report a decision: the exit code, the JSON form and the lines a
 * person reads. Request fields, reasons and errors may quote what the caller sent, so they are escaped.
 */

/** 0 ALLOW, 2 DENY, 3 REQUIRE_APPROVAL; 1 when the decision could not be audited (it did not count). */
export function decisionExitCode(decision: Decision): number {
  if (decision.errors.some((error) => error.code === 'AUDIT_WRITE_FAILED')) return EXIT.ERROR;
  if (decision.result === 'ALLOW') return EXIT.OK;
  return decision.result === 'DENY' ? EXIT.DENY : EXIT.REQUIRE_APPROVAL;
}

/**
 * The decision as JSON without its explanation: the explanation is a getter built on demand, so only
 * `--explain` pays for it.
 */
export function decisionJson(decision: Decision): Omit<Decision, 'explanation'> {
  const record = decision as Decision & { toJSON?: () => Decision };
  const { explanation: _omitted, ...rest } = record.toJSON?.() ?? decision;
  return rest;
}

/** The decision for people: result, action, target and caller, then one row per field that is set. */
export function printDecision(print: (text?: string) => void, style: Style, decision: Decision): void {
  const who =
    printable(decision.caller) + (decision.callerAuthenticated ? '' : style.dim(' (unauthenticated)'));
  print(
    `${colourResult(style, decision.result)}  ${style.bold(printable(decision.action))} on ${decision.target ? printable(decision.target) : style.dim('(no target)')} by ${who}`,
  );
  const row = (label: string, value: string) => print(`  ${style.dim(label.padEnd(14))}${value}`);
  row('reason', printable(decision.reason));
  row('matched rule', decision.matchedRule ? printable(decision.matchedRule) : style.dim('none'));
  if (decision.riskClass)
    row('risk', `${decision.riskClass} (effective ${decision.effectiveRisk ?? 'unknown'})`);
  if (decision.ticketId) row('change ticket', printable(decision.ticketId));
  if (decision.approvalId) {
    const approvalId = printable(decision.approvalId);
    row('approval', approvalId);
    if (decision.result === 'REQUIRE_APPROVAL') {
      row('next', `agent-safe approval approve ${approvalId} --approver-token env:NAME (then ask again)`);
    }
  }
  if (decision.ticket) {
    row('exec ticket', decision.ticket.token);
    row(
      '',
      style.dim(
        `nonce ${decision.ticket.nonce}, expires ${new Date(decision.ticket.expiresAt).toISOString()}`,
      ),
    );
  }
  row('audit id', decision.auditId || style.dim('not recorded'));
  for (const error of decision.errors)
    row('error', printable(`${error.path ? `${error.path}: ` : ''}${error.message}`));
}
