#!/usr/bin/env bash
# The release build stage's Debian packages, at the versions pinned in build/release/debian.lock.
#
#   apt-install.sh LOCK       install them (build/release/Dockerfile)
#   apt-install.sh --resolve  print "ARCH PACKAGE VERSION" for each pinned package, at the version
#                             the archive serves now (`make lock` writes the lock from this)
#
# Sources: bookworm, bookworm-updates and bookworm-security from the base image's mirror, as
# Debian's official images have them (security fixes reach the release), or DEBIAN_MIRROR and
# DEBIAN_SECURITY_MIRROR if set (e.g. a snapshot of Debian's archive from the lock's date).
#
# Debian's archive serves only the newest version of each package. When it no longer serves a
# pinned version, this installs the version it serves instead, says so, and lists the pins that
# moved in /release/moved-pins.txt; build/release/release.sh then stops the release unless
# RELEASE_PINS=current (this layer stays the same either way, so Docker's cache serves both).
set -euo pipefail

MOVED=/release/moved-pins.txt
ARCH=$(dpkg --print-architecture)
case $ARCH in
    amd64) TRIPLET=x86-64-linux-gnu ;;
    arm64) TRIPLET=aarch64-linux-gnu ;;
    *) echo "apt-install.sh: no release for $ARCH" >&2; exit 1 ;;
esac
# The Python build/python-version names (copied beside this script, or read from the tree).
PY=$(cat "$(dirname "$0")/python-version" 2>/dev/null || cat "$(dirname "$0")/../python-version")
# What the stage installs: what build/freeze.sh needs (as Dockerfile.scratch's stage has it).
INSTALL="ca-certificates python3 python3-venv libpython$PY-dev gcc libc6-dev binutils"
# What is pinned: every package whose files shape the binary's bytes. The compiler, assembler
# and linker; the headers, static libraries and start files linked in (build/release/sbom.py
# checks that every package inside the binary is pinned); the Python that compiles the
# bytecode and the standard library sources it compiles.
PINNED="gcc-12 cpp-12 libgcc-12-dev binutils binutils-$TRIPLET libbinutils binutils-common
        libc6 libc6-dev linux-libc-dev libpython$PY-dev libpython$PY libpython$PY-stdlib
        libpython$PY-minimal python$PY python$PY-minimal"

log() { echo "apt-install.sh: $*" >&2; }

# --- sources --------------------------------------------------------------------------------
mirror=${DEBIAN_MIRROR:-$(grep -rhoE 'https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -v -- -security | head -n 1)}
mirror=${mirror%/}
security=${DEBIAN_SECURITY_MIRROR:-${mirror%/debian}/debian-security}
[ -n "$mirror" ] || { log "no Debian mirror in /etc/apt/sources.list*: set DEBIAN_MIRROR"; exit 1; }
options=
[ -z "${DEBIAN_MIRROR:-}" ] || options="[check-valid-until=no] "  # a snapshot's Release file has expired
rm -f /etc/apt/sources.list.d/*
cat > /etc/apt/sources.list <<EOF
deb ${options}$mirror bookworm main
deb ${options}$mirror bookworm-updates main
deb ${options}$security bookworm-security main
EOF
apt-get update -qq

available() {  # available PACKAGE VERSION
    apt-cache madison "$1" | awk -F'|' -v v="$2" '{gsub(/ /, "", $2)} $2 == v {found = 1} END {exit !found}'
}
candidate() {
    apt-cache policy "$1" | awk '$1 == "Candidate:" {print $2}'
}

if [ "${1:-}" = --resolve ]; then
    for package in $PINNED; do
        version=$(candidate "$package")
        [ -n "$version" ] && [ "$version" != "(none)" ] || { log "the archive has no $package"; exit 1; }
        echo "$ARCH $package $version"
    done
    exit 0
fi

LOCK=$1
pins=() moved=()
for package in $PINNED; do
    version=$(awk -v a="$ARCH" -v p="$package" '$1 == a && $2 == p {print $3}' "$LOCK")
    [ -n "$version" ] || { log "$package is not pinned for $ARCH in $LOCK: run \`make lock\`"; exit 1; }
    if available "$package" "$version"; then
        pins+=("$package=$version")
    else
        moved+=("$package $version (the archive now serves $(candidate "$package"))")
        pins+=("$package")
    fi
done
rm -f "$MOVED"
if [ ${#moved[@]} -gt 0 ]; then
    log "the archive no longer serves these pinned versions ($ARCH); installing what it serves:"
    printf '    %s\n' "${moved[@]}" | tee "$MOVED" >&2
fi

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --allow-downgrades \
    $INSTALL "${pins[@]}" >/dev/null
rm -rf /var/lib/apt/lists/*
if [ ${#moved[@]} -eq 0 ]; then
    for pin in "${pins[@]}"; do
        installed=$(dpkg-query -W -f '${Version}' "${pin%%=*}")
        [ "$installed" = "${pin#*=}" ] || { log "${pin%%=*} $installed installed, $LOCK pins ${pin#*=}"; exit 1; }
    done
    log "installed the pinned versions ($ARCH)"
fi
