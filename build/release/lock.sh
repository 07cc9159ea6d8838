#!/usr/bin/env bash
# `make lock`: pin the release stage's Debian packages (build/release/apt-install.sh's PINNED) at
# the versions the archive serves now, for each architecture, into build/release/debian.lock.
# Moving a pin changes the release binaries: commit the lock on its own, saying why.
set -euo pipefail
cd "$(dirname "$0")/../.."
LOCK=build/release/debian.lock
ARCHES=${RELEASE_ARCHES:-amd64 arm64}

rows=
for arch in $ARCHES; do
    BASE_ARCH=$arch build/setup/base-image.sh
    image=$(BASE_ARCH=$arch build/setup/base-image.sh --name)
    rows+=$(docker run --rm --network host -v "$PWD/build/release/apt-install.sh:/apt-install.sh:ro" \
        -v "$PWD/build/python-version:/python-version:ro" \
        "$image" /apt-install.sh --resolve)$'\n'
done
{
    echo "# The Debian bookworm packages that shape the release binaries' bytes, at exact versions,"
    echo "# per architecture: build/release/apt-install.sh installs these in the release stage."
    echo "# Written by \`make lock\` on $(date -u +%Y-%m-%dT%H:%MZ): a snapshot of Debian's archive"
    echo "# from that time serves every version below (see docs/release.md)."
    echo "# ARCH PACKAGE VERSION"
    printf '%s' "$rows"
} > "$LOCK.tmp"
mv "$LOCK.tmp" "$LOCK"
echo "lock.sh: wrote $LOCK" >&2
