# One image for every VibeStream Node process: the gateway and each subgraph.
# Node runs the TypeScript sources directly (type stripping), so there is no build step.
#
#   docker build --build-arg SERVICE=gateway -t vibestream-gateway .
#   docker build --build-arg SERVICE=subgraphs/identity -t vibestream-identity .
#
# SERVICE is the workspace folder whose src/main.ts the container starts. It is also an
# environment variable, so one built image can run any process (docker-compose.yml sets it
# per service): docker run -e SERVICE=subgraphs/identity ...

ARG NODE_IMAGE=node:22-bookworm-slim

# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV NODE_ENV=production \
    APOLLO_TELEMETRY_DISABLED=true \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# ---------------------------------------------------------------------------------------
# Only the lockfile and every package.json, in their folders: the dependency layer below is
# rebuilt only when one of them changes, not on every source edit. (Copying the whole context
# here is cheap; what leaves this stage is just the manifests.)
FROM base AS manifests
COPY . /src
RUN cd /src \
 && mkdir -p /manifests \
 && cp package-lock.json /manifests/ \
 && find . -name package.json -not -path '*/node_modules/*' -exec cp --parents '{}' /manifests/ ';'

# ---------------------------------------------------------------------------------------
# Production dependencies exactly as package-lock.json pins them. --omit=dev leaves out the
# tooling, including the `node` devDependency (a second Node binary that npm scripts put first
# on PATH on a developer's machine): the image runs the base image's Node 22 only.
# --ignore-scripts: no dependency needs its install script in the image (the ones with scripts
# are the embedded PostgreSQL, for development only; bufferutil and utf-8-validate, optional
# speed-ups that `ws` does without; and protobufjs's set-up of its CLI).
FROM base AS deps
COPY --from=manifests /manifests/ ./
RUN npm ci --omit=dev --ignore-scripts \
 && npm cache clean --force \
 && test ! -e node_modules/node \
 && test ! -e node_modules/.bin/node

# ---------------------------------------------------------------------------------------
# The web client's static bundle, built with Vite from the dev dependencies; only dist/ leaves
# this stage (the gateway serves it at /, WEB_APP_DIR=clients/web/dist).
FROM base AS web
COPY --from=manifests /manifests/ ./
RUN npm ci --include=dev --ignore-scripts
COPY . .
RUN node -e "import('./clients/web/build.ts').then((m) => m.buildWebApp())"

# ---------------------------------------------------------------------------------------
FROM base AS runtime
ARG SERVICE=gateway
ENV SERVICE=${SERVICE}
# Owned by root and read-only for the `node` user that runs the process.
COPY --from=deps /app/ ./
COPY . .
COPY --from=web /app/clients/web/dist ./clients/web/dist
# The one place a container may write: /data (VIBESTREAM_DATA_DIR, instead of the repository's
# .data/), e.g. catalog's media files with MEDIA_STORAGE=filesystem in /data/media. A new named
# volume mounted there takes this ownership, so the node user can write to it. Everything else
# lives in PostgreSQL, Redis or object storage.
RUN mkdir -p /data/media && chown -R node:node /data
ENV VIBESTREAM_DATA_DIR=/data
USER node
EXPOSE 4000 4001 4002 4003 4004 4005 4006 4007 4008 4009
# exec: node becomes the shell's replacement and receives SIGTERM from `docker stop`.
CMD ["sh", "-c", "exec node \"$SERVICE/src/main.ts\""]
