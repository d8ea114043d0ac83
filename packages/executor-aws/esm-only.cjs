// CommonJS entry of @agent-safe/executor-aws: the package is ESM-only, so require() gets this clear error instead of
// Node's "No "exports" main defined" (the "require" condition of package.json "exports").
throw Object.assign(new Error(
  "@agent-safe/executor-aws is ESM-only: use import { … } from '@agent-safe/executor-aws'" +
    " (in an ES module: \"type\": \"module\" or a .mjs file), or await import('@agent-safe/executor-aws') from CommonJS.",
), { code: "ERR_REQUIRE_ESM" });
