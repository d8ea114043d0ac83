// Verified identities, delegation and single-use execution tickets, on a project `agent-safe init`
// scaffolded:
//   agent-safe init /tmp/demo && node examples/identity-and-tickets.mjs /tmp/demo
// The signing key comes from $AGENT_SAFE_SIGNING_KEY (HS256, at least 32 bytes: create one with
// `agent-safe identity keygen`); without it this example makes up a throwaway key.
// Exits 1 when an outcome is not the one shown here.
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { AgentSafe } from '@agent-safe/sdk';

const project = resolve(process.argv[2] ?? '.');
const signingKey = process.env.AGENT_SAFE_SIGNING_KEY || randomBytes(32).toString('base64url');
const safe = new AgentSafe({
  registry: join(project, 'actions'),
  policies: join(project, 'policies'),
  inventory: join(project, 'inventory.yaml'),
  auditLog: join(project, 'audit.jsonl'),
  security: { signingKey },
});

let wrong = 0;
function expectEqual(what, actual, expected) {
  console.log(`${what}: ${actual}`);
  if (actual !== expected) {
    console.error(`  expected ${expected}`);
    wrong += 1;
  }
}

// Roles count only when they come from a verified token: allow-deployers-in-staging needs `deployer`.
const token = await safe.identity.createToken({
  agentId: 'deploy-bot',
  roles: ['deployer'],
  groups: ['platform'],
});
const request = {
  action: 'scale-deployment',
  target: 'staging/api-server',
  params: { namespace: 'staging', deployment: 'api-server', replicas: 3 },
};
const decision = await safe.check({ ...request, caller: token });
expectEqual('deployer token, scale in staging', decision.result, 'ALLOW');
expectEqual('caller authenticated', decision.callerAuthenticated, true);

// A plain id is refused once identity is configured (allowPlainCallers turns that off).
const plain = await safe.check({ ...request, caller: 'deploy-bot' });
expectEqual('plain caller id', plain.result, 'DENY');

// An orchestrator hands a worker a narrower identity; the chain is verified on every use.
const child = await safe.delegate({ parentToken: token, childAgentId: 'worker-7', childRoles: ['deployer'] });
expectEqual('delegation to worker-7', child.success, true);
const widened = await safe.delegate({ parentToken: token, childAgentId: 'worker-8', childRoles: ['admin'] });
expectEqual('delegation widening the roles', widened.success, false);

// Executor side: the ticket is bound to the exact action, target and params, and works once.
const validator = await safe.createTicketValidator();
const expected = { ...request, params: decision.params };
const first = await validator.validate(decision.ticket.token, expected);
expectEqual('ticket, first use', first.valid, true);
const second = await validator.validate(decision.ticket.token, expected);
expectEqual('ticket, second use', second.valid ? 'valid' : second.code, 'REPLAYED');
const other = await safe.createTicketValidator();
const elsewhere = await other.validate(decision.ticket.token, { ...expected, target: 'prod/api-server' });
expectEqual('ticket for another target', elsewhere.valid ? 'valid' : elsewhere.code, 'TARGET_MISMATCH');

await safe.close();
process.exitCode = wrong === 0 ? 0 : 1;
