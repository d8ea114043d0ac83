# syntax=docker/dockerfile:1
# The Agent-Safe sidecar: `agent-safe serve` (docs/server.md#container).
#
#   docker build -t agent-safe .
#   docker run --rm -p 8080:8080 --read-only \
#     -v "$PWD/myproject:/config:ro" -v agent-safe-state:/var/lib/agent-safe agent-safe
#   docker run --rm -v "$PWD/myproject:/config:ro" agent-safe check restart-deployment --target dev/app …
#
# /config holds the project (agent-safe.yaml, actions/, policies/, inventory.yaml), read-only. Everything
# the server writes (audit log, approvals, nonces, caches) goes to /var/lib/agent-safe: point audit_log
# (and any other written path) in agent-safe.yaml there, e.g. audit_log: /var/lib/agent-safe/audit.jsonl.
# The image runs as uid 10001 and never writes to its root filesystem, so --read-only and Kubernetes'
# readOnlyRootFilesystem work.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: the whole workspace, then only the CLI's bundle and its one external runtime dependency ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV TURBO_TELEMETRY_DISABLED=1 CI=1
COPY . .
# pnpm at the version package.json pins, from the npm registry (scripts/ensure-pnpm.sh: a user cache, no -g).
RUN . scripts/ensure-pnpm.sh \
 && pnpm install --frozen-lockfile \
 && pnpm turbo run build --filter=@agent-safe/cli --output-logs=errors-only
# The bundle (dist/bundle) inlines every @agent-safe package; `yaml` is its only external import needed at
# run time (the Kubernetes and AWS executors are optional peers, loaded only by `runner execute`).
RUN mkdir -p /out/node_modules \
 && cp -r packages/cli/package.json packages/cli/bin packages/cli/dist packages/cli/schemas /out/ \
 && cp -rL packages/cli/node_modules/yaml /out/node_modules/yaml \
 && node /out/bin/agent-safe.js --version

# ---- run: Node and the bundle, nothing else ----
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HOME=/var/lib/agent-safe \
    AGENT_SAFE_CACHE_DIR=/var/lib/agent-safe/cache \
    AGENT_SAFE_HEALTH_URL=http://127.0.0.1:8080/healthz
COPY --from=build /out /opt/agent-safe
RUN groupadd --system --gid 10001 agent-safe \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/agent-safe --no-create-home \
      --shell /usr/sbin/nologin agent-safe \
 && ln -s /opt/agent-safe/bin/agent-safe.js /usr/local/bin/agent-safe \
 && mkdir -p /config /var/lib/agent-safe \
 && chown 10001:10001 /var/lib/agent-safe \
 && chmod 0750 /var/lib/agent-safe
USER 10001:10001
WORKDIR /config
VOLUME ["/var/lib/agent-safe"]
EXPOSE 8080
# No curl in slim images: Node's fetch asks /healthz. Set AGENT_SAFE_HEALTH_URL when you change --port.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.AGENT_SAFE_HEALTH_URL,{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# No arguments: serve. Arguments run that command instead (docker run … agent-safe check …).
ENTRYPOINT ["agent-safe"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
