#!/usr/bin/env bash
# Make sure the image debian:bookworm-slim exists locally. There may be no
# registry to pull from, so build an equivalent minimal Debian root with
# debootstrap and `docker import` it. Quick no-op when the image exists.
#
# BASE_ARCH=arm64 makes arm64v8/debian:bookworm-slim instead (Docker Hub's name for the
# arm64 image), for the linux/arm64 release stage: debootstrap --arch arm64 runs the
# packages' scripts under qemu-user-static (build/setup/qemu.sh). `docker import` records the
# host's architecture in the image config whatever the root holds; only the build stage
# uses this image, and the release images are made by podman with the right platform.
# `base-image.sh --name` only prints the image's name.
set -euo pipefail

HOST_ARCH=$(dpkg --print-architecture)
ARCH=${BASE_ARCH:-$HOST_ARCH}
case $ARCH in
    "$HOST_ARCH") DEFAULT_IMAGE=debian:bookworm-slim ;;
    arm64) DEFAULT_IMAGE=arm64v8/debian:bookworm-slim ;;
    amd64) DEFAULT_IMAGE=amd64/debian:bookworm-slim ;;
    *) echo "base-image.sh: BASE_ARCH $ARCH: only amd64 and arm64" >&2; exit 1 ;;
esac
IMAGE=${BASE_IMAGE:-$DEFAULT_IMAGE}
if [ "${1:-}" = --name ]; then
    echo "$IMAGE"
    exit 0
fi
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

if [ "$ARCH" != "$HOST_ARCH" ]; then
    "$(dirname "$0")/qemu.sh"
fi

ROOT=$(mktemp -d /var/tmp/bookworm-root.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
echo "base-image.sh: debootstrap --variant=minbase --arch $ARCH $SUITE (about 30 s; 80 s emulated)" >&2
debootstrap --variant=minbase --arch "$ARCH" "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 \
    || { tail -n 20 "$ROOT.log" >&2; fail "debootstrap failed (log: $ROOT.log)"; }
rm -f "$ROOT.log"
# Slim it like the official image: no apt lists or package caches in the layer.
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb
tar -C "$ROOT" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' - "$IMAGE" >/dev/null
echo "base-image.sh: imported $IMAGE" >&2
