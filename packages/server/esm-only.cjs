// CommonJS entry of @agent-safe/server: the package is ESM-only, so require() gets this clear error instead of
// Node's "No "exports" main defined" (the "require" condition of package.json "exports").
throw Object.assign(new Error(
  "@agent-safe/server is ESM-only: use import { … } from '@agent-safe/server'" +
    " (in an ES module: \"type\": \"module\" or a .mjs file), or await import('@agent-safe/server') from CommonJS.",
), { code: "ERR_REQUIRE_ESM" });
