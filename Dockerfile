# syntax=docker/dockerfile:1
# Target gateway (the default, last stage): one image for every role, ROLE=api, ROLE=worker or
# ROLE=all (default). Target llm-simulator: the LLM simulator of `npm run fake-llm`, for
# docker-compose.yml's llm-simulator service; the gateway image holds no test double.

FROM node:20-bookworm-slim AS build
WORKDIR /usr/src
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json tsconfig.support.json ./
COPY scripts ./scripts
COPY src ./src
# The SDK and the CLI (clients/), and the web page, which imports the SDK.
COPY clients ./clients
COPY web ./web
RUN npm run build
COPY test/support ./test/support
RUN npm run build:support
# Production packages only, for the stages below.
RUN npm prune --omit=dev

FROM node:20-bookworm-slim AS llm-simulator
ENV NODE_ENV=production
WORKDIR /usr/src
COPY --from=build /usr/src/package.json ./
COPY --from=build /usr/src/node_modules ./node_modules
COPY --from=build /usr/src/.local/support ./.local/support
COPY scripts/docker-llm-simulator.js ./scripts/
USER node
EXPOSE 9000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.FAKE_LLM_PORT||9000)+'/v1/models').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "scripts/docker-llm-simulator.js"]

FROM node:20-bookworm-slim AS gateway
ENV NODE_ENV=production
WORKDIR /usr/src
COPY --from=build /usr/src/package.json ./
COPY --from=build /usr/src/node_modules ./node_modules
COPY --from=build /usr/src/dist ./dist
# Sample configuration; docker-compose.yml mounts ./.hydra-conf and ./prompts over these.
COPY .hydra-conf ./.hydra-conf
COPY prompts ./prompts
COPY scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# No USER: the entrypoint starts as root only to switch to USER_ID/GROUP_ID (default: node, 1000)
# as v1 did, then runs the command as that user; `docker run --user` skips the switch.
EXPOSE 8000
# Every role listens on HTTP_PORT (ROLE=worker serves health and metrics there).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8000)+'/healthcheck').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Exec form, node itself (npm would swallow SIGTERM): the entrypoint execs it, so node receives
# the signals and runs the graceful shutdown. docker-compose.yml adds an init (`init: true`).
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["node", "dist/main.js"]
