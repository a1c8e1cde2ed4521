# The hub (port 8000): the durable experiment queue and the dispatcher that drives the nodes.
#   docker build -f deploy/hub.Dockerfile -t bioreactor-hub .        (from the repository root)
# Runs as the unprivileged user node (uid 1000); data in /app/data (the guide's bioreactor-hub/data).

# ---- build: identical in node.Dockerfile, hub.Dockerfile and web.Dockerfile, so the three images share these layers.
FROM node:20-bookworm-slim AS manifests
WORKDIR /src
COPY . .
# Only the package manifests, so the dependency layer below is rebuilt only when one of them changes.
RUN mkdir /manifests \
 && find . -name node_modules -prune -o -name package.json -print | xargs cp --parents -t /manifests \
 && cp package-lock.json /manifests/

FROM node:20-bookworm-slim AS build
# python3, make and g++ compile better-sqlite3 where its prebuilt binary cannot be downloaded; node-gyp then takes
# the headers the image ships instead of downloading them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
WORKDIR /app
COPY --from=manifests /manifests ./
# npm ci refuses a lock that lacks optional packages the registry in use does not serve (a mirror without every
# platform binary of a tool); npm install then resolves the same versions from the same lock.
RUN npm ci --loglevel=error 2>/dev/null || npm install
COPY . .
# Each service is bundled into apps/<service>/dist/server.mjs (scripts/services.ts), so the image needs no
# TypeScript loader and no dev dependencies at run time.
RUN npm run build \
 && npm prune --omit=dev
# ---- end build

FROM node:20-bookworm-slim
# The hub checks every script's syntax and imports with Python 3.11 (the experiment image's version) before queueing it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production PORT=8000 HOST=0.0.0.0 DATA_DIR=/app/data BIOREACTOR_WRITABLE_DIRS=/app/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/apps/hub ./apps/hub
COPY deploy/entrypoint.sh /usr/local/bin/bioreactor-entrypoint
EXPOSE 8000
# bash's /dev/tcp instead of a node process: a check costs milliseconds, so it can run often on a Pi.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["bioreactor-entrypoint"]
CMD ["node", "--enable-source-maps", "apps/hub/dist/server.mjs"]
