// CommonJS entry of @agent-safe/runner: the package is ESM-only, so require() gets this clear error instead of
// Node's "No "exports" main defined" (the "require" condition of package.json "exports").
throw Object.assign(new Error(
  "@agent-safe/runner is ESM-only: use import { … } from '@agent-safe/runner'" +
    " (in an ES module: \"type\": \"module\" or a .mjs file), or await import('@agent-safe/runner') from CommonJS.",
), { code: "ERR_REQUIRE_ESM" });
