# The Parley image: one image for every central and site process of a real deployment —
# `parley server start` (the API), `parley coordinator start`, `parley site start` — as
# docker-compose.yml runs them. Parley is TypeScript run through tsx (a runtime dependency):
# there is no build step, so the image is Node, the production dependencies and the sources.
#
#   docker build -t parley:latest .
# Node 24, the active LTS (supported to April 2028); package.json's engines names what Parley supports.
FROM node:24-slim

ENV NODE_ENV=production \
    # The CLI keeps its login and the coordinator its workflow bundle under the user's home.
    HOME=/home/node \
    NPM_CONFIG_UPDATE_NOTIFIER=false

WORKDIR /opt/parley

# Dependencies first, in a layer of their own: it changes only when the lock file does.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# The sources (tests, benchmarks and example data are left out by .dockerignore). Owned by root
# and not writable by the user the processes run as: a compromised process cannot change the code.
COPY . .

# Where a site keeps its private keys: a volume of its own in docker-compose.yml. Created here,
# owned by the runtime user, so a fresh named volume mounted on it is writable by that user only.
RUN mkdir -p /var/lib/parley/keys /var/lib/parley/server \
    && chown -R node:node /var/lib/parley \
    && chmod 700 /var/lib/parley/keys

# Non-root. A site worker additionally needs the Docker socket (see docker-compose.yml).
USER node

ENTRYPOINT ["node", "/opt/parley/bin/parley.js"]
CMD ["--help"]
