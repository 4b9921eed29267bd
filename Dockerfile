# sentinel-proxy container image.
#
#   docker build -t sentinel-proxy .
#   docker run --rm -p 6379:6379 -p 9121:9121 \
#     -e SENTINEL_PROXY_SENTINEL_ADDRESSES=sentinel-1:26379,sentinel-2:26379,sentinel-3:26379 \
#     -e SENTINEL_PROXY_SENTINEL_MASTER=mymaster \
#     sentinel-proxy
#
# Without a registry (CI: tests/deploy/test_image.py), build on a local debootstrap base:
#   deploy/image/build-base.sh && podman build --format docker \
#     --build-arg BASE_IMAGE=localhost/debian-base --build-arg BASE_TAG=bookworm \
#     -t sentinel-proxy .
#
# Configuration: the image's default file /etc/sentinel-proxy/sentinel-proxy.toml only
# sets the listen addresses (clients on 0.0.0.0:6379, admin/health on 0.0.0.0:9121).
# Mount your own TOML over it (or elsewhere and point SENTINEL_PROXY_CONFIG at it), and/or
# set SENTINEL_PROXY_<SECTION>_<KEY> environment variables, which override the file.
# The HEALTHCHECK runs `sentinel-proxy --probe live`, which GETs /livez on admin.listen.
#
# The runtime image is FROM scratch: the binary, the shared libraries ldd names for it
# (glibc >= 2.34 carries the files/dns NSS modules, so host names resolve), a passwd entry
# for uid 10001 and the default configuration. No shell, no package manager.

# The base of the build stages: BASE_IMAGE:BASE_TAG (two arguments, so the FROM lines
# always name a tag).
ARG BASE_IMAGE=debian
ARG BASE_TAG=bookworm-slim

# ---- build stage: the same script CI runs (deploy/build-release.sh) ----------------------
FROM ${BASE_IMAGE}:${BASE_TAG} AS build
WORKDIR /src
# The toolchain layer first: it stays cached while only the sources change.
COPY deploy/install-deps.sh /src/deploy/install-deps.sh
RUN deploy/install-deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN SP_SKIP_DEPS=1 SP_RELEASE_BUILD_DIR=/tmp/build deploy/build-release.sh /out \
    && rm -rf /tmp/build

# ---- collect stage: the runtime libraries, gathered into one tree -----------------------
FROM ${BASE_IMAGE}:${BASE_TAG} AS collect
COPY deploy/install-deps.sh /tmp/install-deps.sh
COPY deploy/image/collect-runtime.sh /tmp/collect-runtime.sh
COPY --from=build /out/sentinel-proxy /usr/local/bin/sentinel-proxy
RUN /tmp/install-deps.sh runtime && /tmp/collect-runtime.sh /usr/local/bin/sentinel-proxy /rootfs

# ---- runtime: scratch plus that tree -----------------------------------------------------
FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="sentinel-proxy" \
      org.opencontainers.image.description="Redis proxy that follows the master Redis Sentinel reports" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/sentinel-proxy/sentinel-proxy" \
      org.opencontainers.image.licenses="UNLICENSED" \
      org.opencontainers.image.base.name="scratch"
COPY --from=collect /rootfs/ /
ENV SENTINEL_PROXY_CONFIG=/etc/sentinel-proxy/sentinel-proxy.toml
USER 10001:10001
EXPOSE 6379 9121
# The proxy is up within milliseconds, so no --start-period (dockerfilelint 1.8 also
# misparses that option name).
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["/usr/local/bin/sentinel-proxy", "--probe", "live"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sentinel-proxy"]
