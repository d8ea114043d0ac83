/**
 * Exit codes of the agent-safe command. `check` maps the decision to an exit code so that shell
 * scripts fail closed: only ALLOW exits 0.
 */
export const EXIT = {
  /** Success, or ALLOW for `check`. */
  OK: 0,
  /** An error: bad configuration, bad input, unreadable file, failed tests, broken audit chain. */
  ERROR: 1,
  /** `check`: the decision is DENY. */
  DENY: 2,
  /** `check`: the decision is REQUIRE_APPROVAL. */
  REQUIRE_APPROVAL: 3,
  /**
   * `runner execute`: the action was attempted and did not cleanly succeed (failed, timed out, cancelled,
   * or its audit record or credential revoke failed): the system may have changed.
   */
  EXECUTION_FAILED: 4,
} as const;
