#!/usr/bin/env bash
# Builds a stripped Release sentinel-proxy binary into OUT_DIR.
# The same steps the Dockerfile's build stage runs, and the ones CI runs
# (tests/deploy/test_deploy_files.py), so a green CI proves the image's build.
#
#   deploy/build-release.sh OUT_DIR
#
# Environment:
#   SP_RELEASE_BUILD_DIR  cmake build directory (default: <repo>/build-release)
#   SP_RELEASE_JOBS       parallel build jobs (default: 2)
#   SP_SKIP_DEPS=1        skip deploy/install-deps.sh (dependencies already present)
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$1"
build="${SP_RELEASE_BUILD_DIR:-$root/build-release}"
jobs="${SP_RELEASE_JOBS:-2}"

if [ "${SP_SKIP_DEPS:-0}" != 1 ]; then
  "$root/deploy/install-deps.sh" build
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target sentinel-proxy -j"$jobs"

mkdir -p "$out"
install -m 0755 "$build/sentinel-proxy" "$out/sentinel-proxy"
strip --strip-unneeded "$out/sentinel-proxy"
"$out/sentinel-proxy" --version
