// The request mix and the percentile helper shared by the SDK benches (check.bench.js, shadow.bench.js):
// against test/fixtures/project, an ALLOW, a role-based ALLOW, a REQUIRE_APPROVAL with a change ticket
// and a DENY (params out of range).

export const requests = [
  {
    action: 'restart-deployment',
    target: 'dev/app',
    caller: 'bench',
    params: { namespace: 'dev', deployment: 'app' },
  },
  {
    action: 'scale-deployment',
    target: 'staging/app',
    caller: { agentId: 'bench', roles: ['deployer'], groups: [], authenticated: false, delegationChain: [] },
    params: { namespace: 'staging', deployment: 'app', replicas: 3 },
  },
  {
    action: 'restart-deployment',
    target: 'prod/app',
    caller: 'bench',
    params: { namespace: 'prod', deployment: 'app' },
    ticketId: 'CHG-1',
  },
  {
    action: 'scale-deployment',
    target: 'dev/app',
    caller: 'bench',
    params: { namespace: 'dev', deployment: 'app', replicas: 99 },
  },
];

export function percentiles(samples) {
  const sorted = Float64Array.from(samples).sort();
  return (q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
}
