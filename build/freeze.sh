#!/usr/bin/env bash
# Build dist/sidecar-killer: ONE statically linked executable holding the Python interpreter
# (Debian's static libpython, build/python-version) and the bytecode of every module it runs. It runs in place: one
# process, nothing extracted, nothing written. How and why: docs/frozen-binary.md.
#
#   entrypoint/ --PyInstaller's import analysis (build/modules.spec)--> modules.json
#               --build/freeze_modules.py--> frozen_modules.h (bytecode, module lists)
#               --gcc -static with launcher/*.c and libpython3.X.a--> the binary
#
# Runs on Debian bookworm: in Dockerfile.scratch's build stage (`make build`) or on a host
# (`make build-host`). Needs (apt): python3 python3-venv libpython3.X-dev gcc libc6-dev
# Env: OUT (default dist/sidecar-killer), WORK (default dist/work), SOURCE_COMMIT (what
# `--version` names; default: build/source-commit.sh, "unknown" outside a git checkout).
# `--version` also names the Debian packages (and versions) of the CPython and the C library
# linked, as dpkg's database here says: the binary's build stamp (build/freeze_modules.py).
# Besides the binary, $WORK keeps what the release's SBOM is made of (build/release/sbom.py):
# frozen.json (what is frozen) and link.map (which archive members the linker took).
# `freeze.sh tools` only prepares the build venv (a cacheable Docker layer).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$REPO/build
LAUNCHER=$REPO/launcher
WORK=${WORK:-$REPO/dist/work}
OUT=${OUT:-$REPO/dist/sidecar-killer}
# Debian's Python, at the version build/python-version names: the bytecode must be made by the
# interpreter whose libpython is linked, and launcher/cpythonXY.c holds that version's internals.
PYTHON_VERSION=$(cat "$BUILD/python-version")
PYTHON=/usr/bin/python$PYTHON_VERSION
INTERNALS=$LAUNCHER/cpython${PYTHON_VERSION/./}.c

log() { echo "freeze.sh: $*" >&2; }
fail() { log "$*"; exit 1; }

# --- prerequisites: fail early with the one apt line that fixes them --------
config() { "$PYTHON" -c "import sysconfig; print(sysconfig.get_config_var('$1'))"; }
missing=
command -v gcc >/dev/null || missing="$missing gcc"
[ -x "$PYTHON" ] || missing="$missing python3"
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing="$missing python3-venv"
[ -f "$(config LIBPL 2>/dev/null)/libpython$PYTHON_VERSION.a" ] || missing="$missing libpython$PYTHON_VERSION-dev"
[ -z "$missing" ] || fail "missing:$missing. On Debian bookworm: apt-get install -y python3 python3-venv libpython$PYTHON_VERSION-dev gcc libc6-dev"

mkdir -p "$WORK" "$(dirname "$OUT")"
VENV=$WORK/venv

# --- build venv with the pinned PyInstaller (redone when the pins change) ---
stamp=$(sha256sum "$BUILD/requirements.txt" | cut -c1-16)
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "creating build venv from $PYTHON"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --no-deps -r "$BUILD/requirements.txt"
    echo "$stamp" > "$VENV/.stamp"
fi
[ "${1:-}" != tools ] || exit 0
[ -f "$INTERNALS" ] || fail "no ${INTERNALS#$REPO/} for Python $PYTHON_VERSION (build/python-version): the CPython internals the binary replaces are written per version; see docs/architecture.md"

# --- what goes in: PyInstaller's import analysis ------------------------------
log "import analysis (build/modules.spec)"
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath "$WORK" \
    --workpath "$WORK/pyinstaller" "$BUILD/modules.spec"

# --- frozen_modules.h: bytecode and module lists -------------------------------
# Stamped for `--version`: the source commit, the platform built for (this stage's), and the
# Debian package and version of the libpython and the libc linked below, from dpkg's database
# (as build/release/sbom.py traces the release's SBOM: dpkg-query -S, then -W).
debian_package() {  # FILE: "PACKAGE VERSION" of the one Debian package that installed it
    local path owner
    for path in "$(realpath -s "$1")" "$(realpath "$1")"; do  # as named, then symlinks resolved
        owner=$(dpkg-query -S "$path" 2>/dev/null | sed -n "s|: $path\$||p" | head -n 1)
        case $owner in
            "" | *,*) continue ;;  # none, or several: not ours to choose
        esac
        dpkg-query -W -f '${Package} ${Version}' "$owner"
        return
    done
    fail "no one Debian package owns $1: the binary links Debian's (see the apt line above)"
}
SOURCE_COMMIT=${SOURCE_COMMIT:-$("$BUILD/source-commit.sh")}
PLATFORM=linux/$(dpkg --print-architecture)
PYTHON_PACKAGE=$(debian_package "$(config LIBPL)/libpython$PYTHON_VERSION.a")
LIBC_PACKAGE=$(debian_package "$(gcc -print-file-name=libc.a)")
PYTHONHASHSEED=0 "$PYTHON" -X no_debug_ranges "$BUILD/freeze_modules.py" \
    "$WORK/modules.json" "$WORK/frozen_modules.h" "$SOURCE_COMMIT" "$PLATFORM" \
    "$PYTHON_PACKAGE" "$LIBC_PACKAGE"

# --- link: one static executable ----------------------------------------------
# glibc warns that getaddrinfo/getpwnam in a static program would need its NSS modules at
# run time: only for sources other than files and dns, which are built in since 2.34.
# The build ID is a hash of the contents (the same inputs, the same ID); the map names every
# object and archive member linked in.
log "linking"
gcc -O2 -Wall -Wextra -Werror -static -s -I"$(config INCLUDEPY)" -I"$WORK" \
    -ffile-prefix-map="$REPO"=. -ffile-prefix-map="$WORK"=. \
    -Wl,--build-id=sha1 -Wl,-Map="$WORK/link.map" \
    -o "$OUT.tmp" "$LAUNCHER/main.c" "$LAUNCHER/native.c" "$INTERNALS" \
    "$(config LIBPL)/libpython$PYTHON_VERSION.a" -lm 2>"$WORK/link.log" \
    || { cat "$WORK/link.log" >&2; fail "link failed"; }
grep -v -e 'statically linked applications requires at runtime' -e ': in function' \
    "$WORK/link.log" >&2 || true
chmod 0755 "$OUT.tmp"
mv -f "$OUT.tmp" "$OUT"

! readelf -l "$OUT" | grep -q INTERP || fail "$OUT is not statically linked"
"$OUT" --version >/dev/null || fail "$OUT does not run"
log "built $OUT ($(stat -c %s "$OUT") bytes)"
