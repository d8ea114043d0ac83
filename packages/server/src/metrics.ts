/** Upper bounds (seconds) of the check latency histogram: 100 µs to 2.5 s. */
export const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/**
 * The server's counters, rendered in the Prometheus text format (0.0.4). Plain numbers and maps: an
 * observation costs a few additions, nothing is allocated per request beyond the map key lookups.
 */
export class ServerMetrics {
  readonly #decisions = new Map<string, number>([
    ['ALLOW', 0],
    ['DENY', 0],
    ['REQUIRE_APPROVAL', 0],
  ]);
  readonly #buckets = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  #latencyCount = 0;
  #latencySum = 0;
  readonly #requests = new Map<string, number>();

  /** One decision of a plan: counted by result, not timed (the plan's steps are decided together). */
  recordResult(result: string): void {
    this.#decisions.set(result, (this.#decisions.get(result) ?? 0) + 1);
  }

  /** One decision of POST /v1/check and the time (seconds) check() took, audit write included. */
  recordDecision(result: string, seconds: number): void {
    this.recordResult(result);
    this.#latencyCount++;
    this.#latencySum += seconds;
    for (let index = 0; index < LATENCY_BUCKETS.length; index++) {
      if (seconds <= LATENCY_BUCKETS[index]!) {
        this.#buckets[index]!++;
        break;
      }
    }
  }

  /** One answered HTTP request; `route` is the route's path, or `unmatched`. */
  recordRequest(route: string, status: number): void {
    const key = `${route}\u0000${status}`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
  }

  /** The Prometheus text exposition. */
  render(): string {
    const lines: string[] = [
      '# HELP agent_safe_decisions_total Decisions returned, by result.',
      '# TYPE agent_safe_decisions_total counter',
    ];
    for (const [result, count] of this.#decisions)
      lines.push(`agent_safe_decisions_total{result="${result}"} ${count}`);
    lines.push(
      '# HELP agent_safe_check_duration_seconds Time to decide one request, audit write included.',
      '# TYPE agent_safe_check_duration_seconds histogram',
    );
    let cumulative = 0;
    for (let index = 0; index < LATENCY_BUCKETS.length; index++) {
      cumulative += this.#buckets[index]!;
      lines.push(`agent_safe_check_duration_seconds_bucket{le="${LATENCY_BUCKETS[index]}"} ${cumulative}`);
    }
    lines.push(
      `agent_safe_check_duration_seconds_bucket{le="+Inf"} ${this.#latencyCount}`,
      `agent_safe_check_duration_seconds_sum ${this.#latencySum}`,
      `agent_safe_check_duration_seconds_count ${this.#latencyCount}`,
      '# HELP agent_safe_http_requests_total HTTP requests answered, by route and status.',
      '# TYPE agent_safe_http_requests_total counter',
    );
    for (const [key, count] of this.#requests) {
      const [route, status] = key.split('\u0000');
      lines.push(
        `agent_safe_http_requests_total{route="${escapeLabel(route!)}",status="${status}"} ${count}`,
      );
    }
    return `${lines.join('\n')}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
