# sentinel-proxy container image.
#
#   docker build -t sentinel-proxy .
#   docker run --rm -p 6379:6379 -p 9121:9121 \
#     -e SENTINEL_PROXY_SENTINEL_ADDRESSES=sentinel-1:26379,sentinel-2:26379,sentinel-3:26379 \
#     -e SENTINEL_PROXY_SENTINEL_MASTER=mymaster \
#     sentinel-proxy
#
# Configuration: the image's default file /etc/sentinel-proxy/sentinel-proxy.toml only
# sets the listen addresses (clients on 0.0.0.0:6379, admin/health on 0.0.0.0:9121).
# Mount your own TOML over it (or elsewhere and point SENTINEL_PROXY_CONFIG at it), and/or
# set SENTINEL_PROXY_<SECTION>_<KEY> environment variables, which override the file.
# Keep admin.listen on port 9121: the HEALTHCHECK below probes http://127.0.0.1:9121/livez.

# ---- build stage: the same script CI runs (deploy/build-release.sh) ----------------------
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY . /src
RUN SP_RELEASE_BUILD_DIR=/tmp/build deploy/build-release.sh /out \
    && rm -rf /var/lib/apt/lists/* /tmp/build

# ---- runtime stage: the binary and its shared libraries only -----------------------------
FROM debian:bookworm-slim
COPY deploy/install-deps.sh /usr/local/share/sentinel-proxy/install-deps.sh
RUN /usr/local/share/sentinel-proxy/install-deps.sh runtime \
    && rm -rf /var/lib/apt/lists/* /usr/local/share/sentinel-proxy \
    && groupadd --system --gid 10001 sentinel-proxy \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
         --home-dir /nonexistent --shell /usr/sbin/nologin sentinel-proxy \
    && mkdir -p /etc/sentinel-proxy \
    && printf '%s\n' \
         '# Default configuration of the sentinel-proxy image: listen addresses only.' \
         '# Mount your own file here, or set SENTINEL_PROXY_* environment variables.' \
         '[proxy]' 'listen = ["0.0.0.0:6379"]' \
         '[admin]' 'listen = "0.0.0.0:9121"' \
         > /etc/sentinel-proxy/sentinel-proxy.toml
COPY --from=build /out/sentinel-proxy /usr/local/bin/sentinel-proxy

ENV SENTINEL_PROXY_CONFIG=/etc/sentinel-proxy/sentinel-proxy.toml
USER 10001:10001
EXPOSE 6379 9121
# bash's /dev/tcp: no curl or wget in the image. The proxy is up within milliseconds, so
# no --start-period (dockerfilelint 1.8 also misparses that option name).
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9121 && printf 'GET /livez HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sentinel-proxy"]
