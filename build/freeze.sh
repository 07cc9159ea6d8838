#!/usr/bin/env bash
# Freeze the entrypoint into ONE static executable: dist/sidecar-killer.
#   entrypoint/ --PyInstaller onefile--> dynamic ELF --staticx (patched)--> static ELF
# Runs on a Debian bookworm host or in Dockerfile.scratch's build stage.
# Needs (apt): python3 python3-venv libpython3.11 gcc libc6-dev musl-tools binutils patchelf patch file
# Env knobs: OUT (default dist/sidecar-killer), WORK (default build/work),
#            SIDECAR_KILLER_XZ=1 to xz-compress the staticx archive (smaller, ~150 ms slower start),
#            PYINSTALLER_ZLIB_COMPRESSION_LEVEL=0..9 for PyInstaller's archive (default 9;
#            0 stores libpython: faster, ~5 MB bigger). The size/time front: docs/performance.md.
# `freeze.sh tools` only prepares the build venv (a cacheable Docker layer).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$REPO/build
WORK=${WORK:-$BUILD/work}
OUT=${OUT:-$REPO/dist/sidecar-killer}
# Debian's Python: its libpython has no DT_RUNPATH, which staticx refuses (staticx #188).
PYTHON=${PYTHON:-/usr/bin/python3}
STATICX_VERSION=0.14.2
STATICX_SHA256=bf7d5d35d5777a72b2d4c408eb25f9c61049b28b94a388a012122dba00fffa93
STATICX_PATCH=$BUILD/staticx-signals-tmpdir.patch

log() { echo "freeze.sh: $*" >&2; }
fail() { log "$*"; exit 1; }

# --- prerequisites: fail early with the one apt line that fixes them --------
missing=
for tool in gcc musl-gcc objcopy patchelf patch ldd file; do
    command -v "$tool" >/dev/null || missing="$missing $tool"
done
[ -x "$PYTHON" ] || missing="$missing $PYTHON"
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing="$missing python3-venv"
ls /usr/lib/*/libpython3.11.so.1.0 >/dev/null 2>&1 || missing="$missing libpython3.11"
[ -z "$missing" ] || fail "missing:$missing. On Debian bookworm: apt-get install -y python3 python3-venv libpython3.11 gcc libc6-dev musl-tools binutils patchelf patch file"

mkdir -p "$WORK" "$(dirname "$OUT")"
VENV=$WORK/venv

# --- build venv with the pinned tools (redone when the pins change) ---------
stamp=$(sha256sum "$BUILD/requirements.txt" "$STATICX_PATCH" | sha256sum | cut -c1-16)
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "creating build venv from $PYTHON"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --no-deps -r "$BUILD/requirements.txt"

    # staticx from its sdist plus our patch (signals, clear /tmp error): never
    # the PyPI wheel, whose bootloader lacks the patch.
    src=$WORK/staticx-src
    rm -rf "$src" "$WORK/wheels"; mkdir -p "$src"
    "$VENV/bin/pip" download -q --no-binary :all: --no-deps "staticx==$STATICX_VERSION" -d "$WORK/sdist"
    echo "$STATICX_SHA256  $WORK/sdist/staticx-$STATICX_VERSION.tar.gz" | sha256sum -c --quiet
    tar -xzf "$WORK/sdist/staticx-$STATICX_VERSION.tar.gz" -C "$src" --strip-components=1
    patch -d "$src" -p1 --quiet < "$STATICX_PATCH"
    # musl: a small static bootloader; the build tools come from this venv.
    (cd "$src" && BOOTLOADER_CC=musl-gcc PATH="$VENV/bin:$PATH" \
        "$VENV/bin/pip" wheel -q --no-deps --no-build-isolation -w "$WORK/wheels" .)
    # Without glibc's NSS headers (libc6-dev) staticx silently builds no
    # libnssfix and then refuses every glibc program: catch that here.
    unzip_list=$("$VENV/bin/python" -m zipfile -l "$WORK"/wheels/staticx-*.whl)
    grep -q 'assets/release/libnssfix.so' <<<"$unzip_list" || fail "staticx wheel has no libnssfix.so (need gcc + libc6-dev)"
    "$VENV/bin/pip" install -q --no-deps "$WORK"/wheels/staticx-*.whl
    echo "$stamp" > "$VENV/.stamp"
fi
[ "${1:-}" != tools ] || exit 0

# --- PyInstaller onefile -----------------------------------------------------
# The entrypoint needs only os/sys/signal/time/errno/socket/ctypes/math/collections and
# http.client with what it imports (the email package, datetime, random, base64, ...),
# + urllib.parse, re, ipaddress, json when options ask for them. Excluding the rest
# keeps libcrypto (ssl, hashlib), liblzma, libbz2, libmpdec and the CJK codecs out of
# the binary, and modules that PyInstaller's static import graph reaches but nothing
# imports at run time out of the archive. `inspect` matters most: bundled, it brings
# the pyi_rth_inspect run-time hook, which imports inspect + zipfile at every start
# (~20 ms). Measured lever by lever in docs/performance.md.
excludes=(
    ssl _ssl hashlib _hashlib lzma _lzma bz2 _bz2 decimal _decimal _pydecimal
    _codecs_cn _codecs_hk _codecs_iso2022 _codecs_jp _codecs_kr _codecs_tw _multibytecodec
    unittest pydoc pydoc_data doctest pdb tkinter _tkinter sqlite3 _sqlite3
    multiprocessing concurrent asyncio xmlrpc xml pyexpat readline curses _curses
    lib2to3 distutils setuptools pkg_resources ensurepip venv idlelib test
    inspect dis ast dataclasses typing importlib.metadata importlib.resources
    zipfile tarfile gzip argparse gettext getopt _strptime subprocess
    pickle shutil pathlib threading _threading_local statistics fractions
    tempfile pprint tracemalloc csv py_compile resource
)
# Every codec but UTF-8, ASCII, Latin-1 (fast paths) and IDNA (non-ASCII host names):
# the interpreter runs in UTF-8 mode (-X utf8 below), so no locale can ask for another.
# Saves ~0.6 MB written to /tmp at every start (base_library.zip).
for codec in "$("$PYTHON" -c 'import encodings, os; print(os.path.dirname(encodings.__file__))')"/*.py; do
    codec=$(basename "$codec" .py)
    case $codec in __init__|aliases|utf_8|ascii|latin_1|idna) ;; *) excludes+=("encodings.$codec") ;; esac
done
args=()
for module in "${excludes[@]}"; do args+=(--exclude-module "$module"); done

# -X utf8: UTF-8 stdio/filesystem encoding whatever the locale (a scratch image has
# none: it was UTF-8 there already). --optimize 2: no docstrings/asserts in the archive.
# PYTHONNODEBUGRANGES: the archive's code objects carry no column tables (only used for
# tracebacks' ^^^ markers): -0.2 MiB size, -0.3 MB /tmp, -0.1 MiB RSS (docs/performance.md).
log "PyInstaller onefile"
PYTHONNODEBUGRANGES=1 "$VENV/bin/pyinstaller" --onefile --noconfirm --clean --log-level WARN \
    --name sidecar-killer --paths "$REPO" --strip --noupx "${args[@]}" \
    --python-option "X utf8" --optimize 2 \
    --distpath "$WORK/pyi-dist" --workpath "$WORK/pyi-build" --specpath "$WORK" \
    "$BUILD/launcher.py"

# --- staticx: bundle libc, ld.so and libpython deps into one static ELF -----
log "staticx"
compress=(--no-compress)
[ "${SIDECAR_KILLER_XZ:-0}" = 1 ] && compress=()
"$VENV/bin/staticx" --strip "${compress[@]}" "$WORK/pyi-dist/sidecar-killer" "$OUT.tmp"
chmod 0755 "$OUT.tmp"   # staticx writes 0700: a non-root USER could not run it
mv -f "$OUT.tmp" "$OUT"

file "$OUT" | grep -q 'statically linked' || fail "$OUT is not statically linked: $(file "$OUT")"
log "built $OUT ($(stat -c %s "$OUT") bytes)"
