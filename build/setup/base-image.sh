#!/usr/bin/env bash
# Make sure the image debian:bookworm-slim exists locally. There may be no
# registry to pull from, so build an equivalent minimal Debian root with
# debootstrap and `docker import` it. Quick no-op when the image exists.
set -euo pipefail

IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
SUITE=${BASE_SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    exit 0
fi

# Try the registry first (cheap when one is reachable); quietly fall through.
if timeout 60 docker pull "$IMAGE" >/dev/null 2>&1; then
    exit 0
fi

fail() { echo "base-image.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "$IMAGE is missing and cannot be pulled; building it with debootstrap needs root."

if ! command -v debootstrap >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || fail "$IMAGE is missing and cannot be pulled; install debootstrap or load the image (docker load)."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

ROOT=$(mktemp -d /var/tmp/bookworm-root.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
echo "base-image.sh: debootstrap --variant=minbase $SUITE (about 30 s)" >&2
debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 \
    || { tail -n 20 "$ROOT.log" >&2; fail "debootstrap failed (log: $ROOT.log)"; }
rm -f "$ROOT.log"
# Slim it like the official image: no apt lists or package caches in the layer.
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb
tar -C "$ROOT" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' - "$IMAGE" >/dev/null
echo "base-image.sh: imported $IMAGE" >&2
