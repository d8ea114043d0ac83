// CommonJS entry of @agent-safe/store-redis: the package is ESM-only, so require() gets this clear error instead of
// Node's "No "exports" main defined" (the "require" condition of package.json "exports").
throw Object.assign(new Error(
  "@agent-safe/store-redis is ESM-only: use import { … } from '@agent-safe/store-redis'" +
    " (in an ES module: \"type\": \"module\" or a .mjs file), or await import('@agent-safe/store-redis') from CommonJS.",
), { code: "ERR_REQUIRE_ESM" });
