#!/usr/bin/env bash
# `make release`: write dist/release/ (docs/release.md says what each file is):
#
#   sidecar-killer-linux-amd64, sidecar-killer-linux-arm64     the static executables
#   sidecar-killer-linux-ARCH.spdx.json                        each one's SBOM (SPDX 2.3)
#   LICENSES/                                                  licence texts and notices
#   sidecar-killer-licenses.tar                                LICENSES/ as one file (a release page
#                                                              holds files, not directories)
#   sidecar-killer-oci.tar                                     both as FROM scratch images
#   SHA256SUMS                                                 of every file above
#
# Each binary is built in build/release/Dockerfile's stage FROM a Debian bookworm base of its own
# architecture (arm64 under qemu-user-static; the bases are made locally when they cannot be
# pulled), with the Debian packages pinned in build/release/debian.lock. The same commit gives
# the same bytes: `make reproduce` checks it.
#
# Env: RELEASE_DIR (default dist/release), RELEASE_ARCHES (default "amd64 arm64"),
# RELEASE_PINS (strict | current: what to do when a pin moved on, see apt-install.sh),
# DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR (e.g. a snapshot of Debian's archive), RELEASE_NO_CACHE=1
# (rebuild every layer of the stages), DOCKER_BUILD (the Makefile's).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${RELEASE_DIR:-dist/release}
ARCHES=${RELEASE_ARCHES:-amd64 arm64}
DOCKER_BUILD=${DOCKER_BUILD:-DOCKER_BUILDKIT=0 docker build --network host}

log() { echo "release.sh: $*" >&2; }
fail() { log "$*"; exit 1; }

VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' entrypoint/__init__.py)
COMMIT=$(build/source-commit.sh)
REVISION=$(build/source-commit.sh --full)
# The commit's time (also when dirty): the SBOMs' creation time, the images' and the archive's times.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH
[ -n "$VERSION" ] || fail "no __version__ in entrypoint/__init__.py"
case $COMMIT in *-dirty) log "the sources differ from commit ${COMMIT%-dirty}: the binaries say $COMMIT" ;; esac

WORK=$OUT.work
rm -rf "$WORK"
mkdir -p "$WORK"
for arch in $ARCHES; do
    started=$SECONDS
    BASE_ARCH=$arch build/setup/base-image.sh
    base=$(BASE_ARCH=$arch build/setup/base-image.sh --name)
    image=sidecar-killer:release-stage-$arch
    log "linux/$arch: building in $base"
    env $DOCKER_BUILD -q -f build/release/Dockerfile ${RELEASE_NO_CACHE:+--no-cache} \
        --build-arg BASE="$base" \
        --build-arg DEBIAN_MIRROR="${DEBIAN_MIRROR:-}" --build-arg DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-}" \
        --build-arg SOURCE_COMMIT="$COMMIT" --build-arg SOURCE_REVISION="$REVISION" \
        --build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" -t "$image" . >/dev/null
    id=$(docker create "$image")
    docker cp "$id:/out" "$WORK/linux-$arch" && rc=0 || rc=$?
    docker rm "$id" >/dev/null
    [ "$rc" = 0 ] || fail "could not copy /out out of $image"
    log "linux/$arch: built in $((SECONDS - started)) s"
    if [ -f "$WORK/linux-$arch/moved-pins.txt" ]; then
        log "linux/$arch: the archive no longer serves these versions of build/release/debian.lock:"
        cat "$WORK/linux-$arch/moved-pins.txt" >&2
        if [ "${RELEASE_PINS:-strict}" != current ]; then
            log "a release is built from its pins: rebuild with DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR"
            log "pointing at a snapshot of Debian's archive from the lock's date, or \`make lock\` to move"
            log "the pins (the binaries change: commit the lock), or RELEASE_PINS=current to build with"
            log "what the archive serves now (the SBOM names it; not reproducible from the lock)."
            exit 1
        fi
        log "RELEASE_PINS=current: built with the archive's versions instead; the SBOM names them"
    fi
done

# Assemble in a fresh directory, then put it in place.
NEW=$OUT.new
rm -rf "$NEW"
mkdir -p "$NEW/LICENSES"
for arch in $ARCHES; do
    install -m 0755 "$WORK/linux-$arch/sidecar-killer" "$NEW/sidecar-killer-linux-$arch"
    install -m 0644 "$WORK/linux-$arch/sidecar-killer.spdx.json" "$NEW/sidecar-killer-linux-$arch.spdx.json"
    # LICENSES/: the texts are the same in every stage (the same package versions); the notices
    # are per architecture by name. A text that differs between the stages stops the release.
    (cd "$WORK/linux-$arch/LICENSES" && find . -type f) | while read -r file; do
        if [ -e "$NEW/LICENSES/$file" ]; then
            cmp -s "$WORK/linux-$arch/LICENSES/$file" "$NEW/LICENSES/$file" \
                || fail "LICENSES/$file differs between the architectures' stages"
        else
            install -D -m 0644 "$WORK/linux-$arch/LICENSES/$file" "$NEW/LICENSES/$file"
        fi
    done
done
log "OCI image archive (podman)"
build/release/oci.sh "$WORK" "$NEW" "$VERSION" "$REVISION"
# LICENSES/ as one archive, made as reproducibly as the image archive (oci.sh): sorted, the
# commit's time, owned by 0:0. Extracted beside SHA256SUMS it gives the LICENSES/ lines to check.
tar -C "$NEW" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --mode=u=rwX,go=rX --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -cf "$NEW/sidecar-killer-licenses.tar" LICENSES
(cd "$NEW" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum) > "$NEW/SHA256SUMS"
rm -rf "$OUT"
mv "$NEW" "$OUT"
log "wrote $OUT: sidecar-killer $VERSION, commit $COMMIT"
(cd "$OUT" && ls -l sidecar-killer-linux-* sidecar-killer-oci.tar) >&2
