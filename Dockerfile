# syntax=docker/dockerfile:1
# One image for every role: ROLE=api, ROLE=worker or ROLE=all (default).

FROM node:20-bookworm-slim AS build
WORKDIR /usr/src
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /usr/src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /usr/src/dist ./dist
# Sample configuration; docker-compose.yml mounts ./.hydra-conf and ./prompts over these.
COPY .hydra-conf ./.hydra-conf
COPY prompts ./prompts
USER node
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8000)+'/healthcheck').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The same command the tests run against the built gateway.
CMD ["npm", "run", "start:prod"]
