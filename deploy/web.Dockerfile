# The web server (port 3000): pages, the live dashboard (SSE), settings and accounts.
#   docker build -f deploy/web.Dockerfile -t bioreactor-web-server .        (from the repository root)
# Runs as the unprivileged user node (uid 1000); settings and accounts in /app/config (the guide's web-server/config).

ARG NODE_IMAGE=node:24-bookworm-slim
# The stages that only compile JavaScript (the UI, the service bundles) run on the building machine's own
# architecture: their output is the same on every one, and they need no emulation when building for another.
ARG BUILD_IMAGE=node:24-bookworm-slim

# ---- build: identical in node.Dockerfile, hub.Dockerfile and web.Dockerfile, so the three images share these layers.
FROM ${BUILD_IMAGE} AS manifests
WORKDIR /src
COPY . .
# Only the package manifests, so the dependency layers below are rebuilt only when one of them changes.
RUN mkdir /manifests \
 && find . -name node_modules -prune -o -name package.json -print | xargs cp --parents -t /manifests \
 && cp package-lock.json /manifests/

FROM ${BUILD_IMAGE} AS build
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
WORKDIR /app
COPY --from=manifests /manifests ./
# Every dependency, for the build tools; no install scripts: the build loads no native module, so nothing is compiled
# here (each service's own dependencies are installed, and compiled, in its deps stage below).
RUN npm ci --ignore-scripts --loglevel=error
COPY . .
# Each service is bundled into apps/<service>/dist/server.mjs (scripts/services.ts), so the image needs no
# TypeScript loader and no dev dependencies at run time.
RUN npm run build
# ---- end build

# ---- deps: this service's production dependencies only, installed in the image's own architecture (under
# emulation when building for another), so native modules are compiled for the Node.js and libc that run them.
FROM ${NODE_IMAGE} AS deps
# python3, make and g++ compile native modules where no prebuilt binary can be downloaded; node-gyp takes the
# headers the image ships (/usr/local/include/node) instead of downloading them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
WORKDIR /app
COPY --from=manifests /manifests ./
# The workspace links (@bioreactor/*) are dropped: the bundles have the workspace packages compiled in; so are the
# object files of native builds (only build/Release/*.node is loaded).
RUN npm ci --omit=dev --workspace apps/web --loglevel=error \
 && rm -rf node_modules/@bioreactor node_modules/.package-lock.json \
 && find node_modules -path '*/build/Release/obj.target' -prune -exec rm -rf {} + \
 && find node_modules -path '*/build/Release/.deps' -prune -exec rm -rf {} +

FROM ${NODE_IMAGE}
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0 BIOREACTOR_CONFIG_DIR=/app/config \
    BIOREACTOR_WRITABLE_DIRS="/app/config /app/uploads_tmp"
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/apps/web ./apps/web
COPY deploy/entrypoint.sh /usr/local/bin/bioreactor-entrypoint
EXPOSE 3000
# bash's /dev/tcp instead of a node process: a check costs milliseconds, so it can run often on a Pi.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["bioreactor-entrypoint"]
CMD ["node", "--enable-source-maps", "apps/web/dist/server.mjs"]
