// Decisions on a project `agent-safe init` scaffolded: an ALLOW, a REQUIRE_APPROVAL and two DENYs.
//   agent-safe init /tmp/demo && node examples/sdk-check.mjs /tmp/demo
// Exits 1 when a decision is not the one shown here.
import { join, resolve } from 'node:path';
import { AgentSafe } from '@agent-safe/sdk';

const project = resolve(process.argv[2] ?? '.');
const safe = new AgentSafe({
  registry: join(project, 'actions'),
  policies: join(project, 'policies'),
  inventory: join(project, 'inventory.yaml'),
  auditLog: join(project, 'audit.jsonl'),
});

const requests = [
  {
    expect: 'ALLOW', // the allow-dev rule
    request: {
      action: 'restart-deployment',
      target: 'dev/test-app',
      caller: 'deploy-agent',
      params: { namespace: 'dev', deployment: 'app' },
    },
  },
  {
    expect: 'REQUIRE_APPROVAL', // critical effective risk: a person decides
    request: {
      action: 'restart-deployment',
      target: 'prod/api-server',
      caller: 'deploy-agent',
      params: { namespace: 'prod', deployment: 'api-server' },
      ticketId: 'JIRA-1234',
    },
  },
  {
    expect: 'DENY', // replicas above the action's maximum of 100: refused before any rule
    request: {
      action: 'scale-deployment',
      target: 'dev/test-app',
      caller: 'deploy-agent',
      params: { namespace: 'dev', deployment: 'app', replicas: 500 },
    },
  },
  {
    expect: 'DENY', // target binding: the params name another Deployment than dev/test-app
    request: {
      action: 'restart-deployment',
      target: 'dev/test-app',
      caller: 'deploy-agent',
      params: { namespace: 'prod', deployment: 'api-server' },
    },
  },
];

let wrong = 0;
for (const { expect, request } of requests) {
  const decision = await safe.check(request);
  console.log(`${decision.result.padEnd(16)} ${request.action} on ${request.target}: ${decision.reason}`);
  if (decision.result !== expect) {
    console.error(`  expected ${expect}`);
    wrong += 1;
  }
}
await safe.close();
process.exitCode = wrong === 0 ? 0 : 1;
