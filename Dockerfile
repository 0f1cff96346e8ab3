# argo-sts on Node: `argo-sts serve` as a non-root user, on a read-only root filesystem.
#
#   docker build -t argo-sts .
#   docker run --rm --read-only -p 8787:8787 \
#     -v "$PWD/argo-sts.yaml:/etc/argo-sts/config.yaml:ro" -e ARGO_STS_SIGNING_KEYS="$(cat signing.jwks.json)" argo-sts
#
# The build stage makes the same tarball `npm pack` makes (plain JavaScript in lib/, built by
# prepack) and installs it with the runtime dependencies package-lock.json pins. The runtime stage
# holds Node, that install and nothing else: no npm, no shell, no TypeScript. Node runs as PID 1;
# `argo-sts serve` handles SIGTERM and SIGINT itself (it stops listening, lets requests finish and
# closes the audit sink), and it starts no child processes, so no init is needed. The only place
# it writes is an `audit.sink: sqlite:PATH` file: mount a volume at /var/lib/argo-sts for it.
# docs/operations.md has the rest (Kubernetes: infra/helm/argo-sts/).

# Both images are Debian 12 with Node 24; override them to use a mirror.
ARG BUILD_IMAGE=docker.io/library/node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
# No install scripts: the image's own Node 24 builds, so the `node` devDependency (a Node for
# machines whose own is older) is not fetched, and nothing else here needs a script.
RUN npm ci --ignore-scripts --no-audit --no-fund && rm -rf node_modules/node node_modules/.bin/node
COPY . .
RUN npm pack --pack-destination /tmp \
 && mkdir -p /opt/argo-sts \
 && tar -xzf /tmp/argo-sts-*.tgz -C /opt/argo-sts --strip-components=1 --no-same-owner
WORKDIR /opt/argo-sts
RUN cp /src/package-lock.json . \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm package-lock.json \
 && mkdir -p /var/lib/argo-sts

FROM ${RUNTIME_IMAGE}
COPY --from=build /opt/argo-sts /opt/argo-sts
COPY --from=build --chown=65532:65532 /var/lib/argo-sts /var/lib/argo-sts
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8787
USER 65532:65532
WORKDIR /var/lib/argo-sts
EXPOSE 8787
STOPSIGNAL SIGTERM
ENTRYPOINT ["/nodejs/bin/node", "--disable-warning=ExperimentalWarning", "/opt/argo-sts/bin/argo-sts.js"]
CMD ["serve", "--config", "/etc/argo-sts/config.yaml"]
