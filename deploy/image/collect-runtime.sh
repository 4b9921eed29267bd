#!/bin/sh
# Copies BINARY and every shared library ldd resolves for it (with the dynamic loader)
# into ROOTFS, plus what a FROM scratch image needs besides: passwd/group entries for the
# uid 10001, nsswitch.conf, and the default configuration (listen addresses only).
#   collect-runtime.sh BINARY ROOTFS
set -eu
bin="$1"
root="$2"
mkdir -p "$root/usr/local/bin" "$root/etc/sentinel-proxy" "$root/tmp"
chmod 1777 "$root/tmp"
cp -a "$bin" "$root/usr/local/bin/"
# "libx.so => /lib/x86_64-linux-gnu/libx.so (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
ldd "$bin" | awk '/=> \// {print $3} /^\t\// {print $1}' | while read -r lib; do
  # cp -L: the file itself, under the name the loader looks for.
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
if ldd "$bin" | grep -q 'not found'; then ldd "$bin" >&2; exit 1; fi
printf 'root:x:0:0:root:/root:/sbin/nologin\nsentinel-proxy:x:10001:10001::/nonexistent:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nsentinel-proxy:x:10001:\n' > "$root/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$root/etc/nsswitch.conf"
printf '%s\n' \
  '# Default configuration of the sentinel-proxy image: listen addresses only.' \
  '# Mount your own file here, or set SENTINEL_PROXY_* environment variables.' \
  '[proxy]' 'listen = ["0.0.0.0:6379"]' \
  '[admin]' 'listen = "0.0.0.0:9121"' \
  > "$root/etc/sentinel-proxy/sentinel-proxy.toml"
"$root/usr/local/bin/sentinel-proxy" --version
