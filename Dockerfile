# syntax=docker/dockerfile:1
#
# One image for all three services (gateway, notifier, metrics).
#   docker build -t realtime-gateway .                      # WORKDIR services/gateway
#   docker build --build-arg SERVICE=notifier -t rt-notifier .
# or keep one image and pick the service at run time, as compose.yaml does:
#   docker run -w /app/services/notifier realtime-gateway
# Each service starts with `bun run start` in its own folder.
# No test code: .dockerignore keeps the tests and the test kit (packages/testkit) out of the context.

ARG BUN_VERSION=1.4.5

# ---- manifests: every workspace package.json and nothing else ----
# Copying the trees and deleting the rest keeps the next stage's cache keyed on
# the manifests only, without listing each workspace here by hand.
FROM oven/bun:${BUN_VERSION} AS manifests
WORKDIR /app
COPY packages ./packages
COPY services ./services
RUN find packages services -mindepth 1 ! -type d ! -name package.json -delete \
 && find packages services -mindepth 1 -type d -empty -delete

# ---- deps: production dependencies of the whole workspace, from the lockfile ----
FROM oven/bun:${BUN_VERSION} AS deps
WORKDIR /app
COPY package.json bun.lock bunfig.toml ./
COPY --from=manifests /app ./
# devDependencies (typescript, bun-types, playwright-core, ...) are left out,
# and so is the test kit: no package depends on it and it is not in the
# context, so bun installs the workspace without it from the same lockfile
# ("skipped 1 workspace listed in bun.lock but not on disk"). bun's isolated
# linker puts a node_modules in the root (the .bun store) and one per workspace
# (relative symlinks into the store); the runtime stage copies all of them.
RUN bun install --frozen-lockfile --production --ignore-scripts

# ---- runtime ----
FROM oven/bun:${BUN_VERSION}-slim AS runtime
ARG SERVICE=gateway
ENV NODE_ENV=production \
    SERVICE=${SERVICE}
WORKDIR /app
# Dependencies first (the whole tree keeps the relative symlinks intact), then
# the sources. Files stay root-owned: the `bun` user only needs to read them.
COPY --from=deps /app ./
COPY package.json bun.lock bunfig.toml tsconfig.json ./
COPY packages ./packages
COPY services ./services

USER bun
WORKDIR /app/services/${SERVICE}
# gateway 8080, notifier 8081; metrics serves HTTP only when PORT is set.
EXPOSE 8080 8081
# `bun run start` forwards SIGTERM/SIGINT to the service, which shuts down
# gracefully (gateway: close 1001 to every socket). Run with an init
# (`docker run --init`, compose `init: true`) so PID 1 reaps and forwards.
CMD ["bun", "run", "start"]
