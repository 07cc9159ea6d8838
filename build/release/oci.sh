#!/usr/bin/env bash
# Write the release's OCI image archive, sidecar-killer-oci.tar: an OCI image layout whose index
# holds one image per architecture, each FROM scratch with /sidecar-killer, its SBOM
# (/sidecar-killer.spdx.json) and /LICENSES/, for `COPY --from=`. Made by podman (buildah inside),
# reproducibly: file and creation times are SOURCE_DATE_EPOCH, the archive is sorted and owned by
# 0:0. It also carries Docker's manifest.json (build/release/docker-manifest.py), so Docker 20.10's
# `docker load` takes it too, as NAME:VERSION-linux-ARCH.
#
#   oci.sh WORK OUT VERSION REVISION
#
# WORK/linux-ARCH/ holds each stage's /out (release.sh); podman's storage is a temporary one.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$1 OUT=$2 VERSION=$3 REVISION=$4
: "${SOURCE_DATE_EPOCH:?}"
NAME=sidecar-killer

TMP=$(mktemp -d /var/tmp/sidecar-killer-oci.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
podman=(podman --root "$TMP/storage" --runroot "$TMP/run" --storage-driver vfs)
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

for dir in "$WORK"/linux-*; do
    platform=linux/${dir##*/linux-}
    rootfs=$TMP/context-${dir##*/}/rootfs
    mkdir -p "$rootfs"
    install -m 0755 "$dir/sidecar-killer" "$rootfs/sidecar-killer"
    install -m 0644 "$dir/sidecar-killer.spdx.json" "$rootfs/sidecar-killer.spdx.json"
    cp -r "$dir/LICENSES" "$rootfs/LICENSES"
    chmod -R u=rwX,go=rX "$rootfs/LICENSES"
    licence=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["packages"][0]["licenseConcluded"])' \
        "$dir/sidecar-killer.spdx.json")
    "${podman[@]}" build -q --platform "$platform" --timestamp "$SOURCE_DATE_EPOCH" --manifest "$NAME:$VERSION" \
        --label org.opencontainers.image.title=sidecar-killer \
        --label org.opencontainers.image.version="$VERSION" \
        --label org.opencontainers.image.revision="$REVISION" \
        --label org.opencontainers.image.created="$created" \
        --label org.opencontainers.image.licenses="$licence" \
        -f "$REPO/build/release/Containerfile" "$rootfs/.." >/dev/null
done
"${podman[@]}" manifest push -q --all --format oci "$NAME:$VERSION" "oci:$TMP/layout:$NAME:$VERSION" >/dev/null
python3 "$REPO/build/release/docker-manifest.py" "$TMP/layout" "$NAME:$VERSION"
tar -C "$TMP/layout" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --mode=u=rwX,go=rX --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -cf "$OUT/sidecar-killer-oci.tar" oci-layout index.json manifest.json blobs
