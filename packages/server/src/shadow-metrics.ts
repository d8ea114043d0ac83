import type { AgentSafe } from '@agent-safe/sdk/facade';

/** The SDK's shadow counters, as `AgentSafe.shadowStats()` returns them. */
type ShadowStats = NonNullable<ReturnType<AgentSafe['shadowStats']>>;

/**
 * Shadow mode's counters over the server's life (docs/server.md, "Shadow mode"). Each facade counts its
 * own checks; a reload replaces the facade, so the counters of retired facades are carried over and the
 * series stay monotonic, as Prometheus counters must. The facade retired last is still read live
 * (requests in flight finish on it); older ones are folded into plain numbers.
 */
export class ShadowMetrics {
  #evaluations = 0;
  #errors = 0;
  /** Differences of folded facades, by `enforced>shadow`. */
  readonly #differences = new Map<string, number>();
  #retired: AgentSafe | undefined;
  /** Whether a folded facade had shadow mode. */
  #configured = false;

  /** Called when a reload swaps `old` out: its counts stay in the totals. */
  retire(old: AgentSafe): void {
    if (this.#retired !== undefined && this.#retired !== old) this.#fold(this.#retired.shadowStats());
    this.#retired = old;
  }

  #fold(stats: ShadowStats | undefined): void {
    if (stats === undefined) return;
    this.#configured = true;
    this.#evaluations += stats.evaluations;
    this.#errors += stats.errors;
    for (const { enforced, shadow, count } of stats.differences) {
      const key = `${enforced}>${shadow}`;
      this.#differences.set(key, (this.#differences.get(key) ?? 0) + count);
    }
  }

  /**
   * The Prometheus text of the shadow counters, or '' when no facade of this server ever had shadow
   * mode (the series then do not exist, rather than read 0 for a feature that is off).
   */
  render(current: AgentSafe): string {
    const serving = current.shadowStats();
    const live = [serving, this.#retired?.shadowStats()];
    let evaluations = this.#evaluations;
    let errors = this.#errors;
    const differences = new Map(this.#differences);
    let configured = this.#configured;
    for (const stats of live) {
      if (stats === undefined) continue;
      configured = true;
      evaluations += stats.evaluations;
      errors += stats.errors;
      for (const { enforced, shadow, count } of stats.differences) {
        const key = `${enforced}>${shadow}`;
        differences.set(key, (differences.get(key) ?? 0) + count);
      }
    }
    if (!configured) return '';
    const lines = [
      '# HELP agent_safe_shadow_evaluations_total Checks the shadow (candidate) policies were evaluated on.',
      '# TYPE agent_safe_shadow_evaluations_total counter',
      `agent_safe_shadow_evaluations_total ${evaluations}`,
      '# HELP agent_safe_shadow_differences_total Checks the shadow policies answered otherwise (result or matched rule), by the enforced and the shadow result.',
      '# TYPE agent_safe_shadow_differences_total counter',
    ];
    for (const [key, count] of [...differences].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const [enforced, shadow] = key.split('>');
      lines.push(`agent_safe_shadow_differences_total{enforced="${enforced}",shadow="${shadow}"} ${count}`);
    }
    lines.push(
      '# HELP agent_safe_shadow_errors_total Shadow evaluations that failed or difference events the audit log refused; no answer changed.',
      '# TYPE agent_safe_shadow_errors_total counter',
      `agent_safe_shadow_errors_total ${errors}`,
    );
    if (serving !== undefined) {
      lines.push(
        '# HELP agent_safe_shadow_revision The shadow policy revision being evaluated (always 1).',
        '# TYPE agent_safe_shadow_revision gauge',
        `agent_safe_shadow_revision{revision="${escapeLabel(serving.policyRevision)}"} 1`,
      );
    }
    return `${lines.join('\n')}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
