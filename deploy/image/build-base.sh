#!/usr/bin/env bash
# Builds the local Debian bookworm base image the Dockerfile starts FROM, without pulling
# anything from a registry: debootstrap (minbase) from the Debian mirror apt already uses,
# then `podman import`. The rootfs tarball is cached under a key that hashes everything
# that decides its contents (this script, suite, variant, mirror, extra packages), so CI on
# a fresh clone builds it once and later runs only re-import it (or find it imported).
#
#   deploy/image/build-base.sh [IMAGE]      default IMAGE: localhost/debian-base:bookworm
#
# Environment: SP_IMAGE_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/sentinel-proxy/image),
# SP_DEBIAN_MIRROR (default: the first deb.debian.org-style URI in /etc/apt/sources.list*).
# Needs root (debootstrap chroots), debootstrap and podman.
set -euo pipefail
image="${1:-localhost/debian-base:bookworm}"
suite=bookworm
variant=minbase
# ca-certificates is not needed: the image talks plain RESP/HTTP; keep the base minimal.
include=""

mirror="${SP_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  # deb822 "URIs:" lines first, then one-line "deb URI suite" entries; the first mirror that
  # serves the main archive (not -security, not a third-party repository) wins.
  mirror="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | awk '/^URIs:/ {print $2} /^deb / {print $2}' \
    | grep -E '/debian/?$' | head -n 1 || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

self_hash="$(sha256sum "$0" | cut -c1-16)"
key="$(printf '%s\n' "$self_hash" "$suite" "$variant" "$mirror" "$include" | sha256sum | cut -c1-16)"
cache="${SP_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sentinel-proxy/image}"
tarball="$cache/debian-$suite-$variant-$key.tar"

# Already imported with this key: nothing to do.
if [ "$(podman image inspect --format '{{ index .Config.Labels "org.sentinel-proxy.base-key" }}' "$image" 2>/dev/null || true)" = "$key" ]; then
  echo "base image $image is current (key $key)"
  exit 0
fi

if [ ! -s "$tarball" ]; then
  mkdir -p "$cache"
  work="$(mktemp -d "$cache/rootfs.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  start=$(date +%s)
  echo "debootstrap $suite ($variant) from $mirror into $work"
  debootstrap --variant="$variant" ${include:+--include="$include"} "$suite" "$work/rootfs" "$mirror" \
    > "$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  # The same apt source inside the image, so `apt-get install` in the Dockerfile works.
  printf 'deb %s %s main\n' "$mirror" "$suite" > "$work/rootfs/etc/apt/sources.list"
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  tar -C "$work/rootfs" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  echo "debootstrap took $(( $(date +%s) - start )) s; cached $tarball ($(du -h "$tarball" | cut -f1))"
fi

podman import --change "LABEL org.sentinel-proxy.base-key=$key" \
  --change 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null
echo "imported $image from $tarball (key $key)"
