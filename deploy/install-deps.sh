#!/usr/bin/env bash
# Installs, with apt-get, whatever the requested profile needs and is missing.
# One source of truth for the README, CI, the demo and (later) the Dockerfile.
#   build   compiler toolchain and -dev libraries
#   test    build + redis-server/sentinel + Debian's python3 clients and pytest + clang 14
#           with libclang-rt-14-dev (libFuzzer, sanitizer runtimes: tests/fuzz/run-fuzzers),
#           podman + runc + debootstrap (tests/deploy/test_image.py builds and runs the image
#           on a debootstrap base), podman-compose + the CNI dnsname plugin (container names
#           in DNS: tests/deploy/test_compose.py runs the compose stack), promtool (prometheus: checks deploy/monitoring rules),
#           iproute2 and iptables (network namespaces, partitions and latency for
#           tests/integration/test_network_partitions.py and the soak; they need root)
#   demo    build + redis-server/sentinel + python3-redis
#   bench   build + redis + haproxy + nutcracker + matplotlib
#   runtime the shared libraries the binary needs
set -euo pipefail
profile="${1:-build}"

build_pkgs=(g++ cmake make pkg-config libuv1-dev libhiredis-dev libspdlog-dev libtomlplusplus-dev libcli11-dev catch2 prometheus-cpp-dev libssl-dev)
redis_pkgs=(redis-server redis-sentinel redis-tools)
case "$profile" in
  build)   pkgs=("${build_pkgs[@]}") ;;
  test)    pkgs=("${build_pkgs[@]}" "${redis_pkgs[@]}" python3 python3-redis python3-pytest
                 python3-celery python3-kombu python3-django python3-django-redis python3-yaml docker-compose
                 clang libclang-rt-14-dev podman runc debootstrap podman-compose
                 golang-github-containernetworking-plugin-dnsname prometheus iproute2 iptables) ;;
  bench)   pkgs=("${build_pkgs[@]}" "${redis_pkgs[@]}" python3 python3-redis python3-matplotlib haproxy nutcracker) ;;
  demo)    pkgs=("${build_pkgs[@]}" "${redis_pkgs[@]}" python3 python3-redis) ;;
  runtime) pkgs=(libuv1 libhiredis0.14 libspdlog1.10 libfmt9 libtomlplusplus3 libprometheus-cpp-core1.0 libssl3) ;;
  *) echo "usage: $0 build|test|demo|bench|runtime" >&2; exit 2 ;;
esac

missing=()
# Node.js may come from another packager (the image's nodejs bundles npm): only ask
# apt for it when npm is absent.
if [ "$profile" = test ] && ! command -v npm >/dev/null 2>&1; then pkgs+=(nodejs npm); fi
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
