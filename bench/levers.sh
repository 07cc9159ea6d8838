#!/usr/bin/env bash
# Rebuild every step of docs/performance.md and measure them side by side (issue 5).
#
#   bench/levers.sh [build|measure|all] [extra bench/run.py args]     (default: all; root, Debian bookworm)
#
# build:   one binary per lever step and per size/time choice into bench/out/levers/,
#          with the pinned tools of build/freeze.sh (its build venv, patched staticx);
#          the entrypoint of each step comes from its git commit (git archive).
# measure: bench/run.py, all of them interleaved: job overhead, chain RSS, /tmp bytes, size.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$REPO/bench/out/levers
WORK=$OUT/work
VENV=$WORK/venv
PYTHON=/usr/bin/python3
what=${1:-all}; shift || true

# The excludes before issue 5, and the ones it added (as build/freeze.sh has them now).
BASE_EXCLUDES="ssl _ssl hashlib _hashlib lzma _lzma bz2 _bz2 decimal _decimal _pydecimal
    _codecs_cn _codecs_hk _codecs_iso2022 _codecs_jp _codecs_kr _codecs_tw _multibytecodec
    unittest pydoc pydoc_data doctest pdb tkinter _tkinter sqlite3 _sqlite3
    multiprocessing concurrent asyncio xmlrpc xml pyexpat readline curses _curses
    lib2to3 distutils setuptools pkg_resources ensurepip venv idlelib test"
GRAPH_EXCLUDES="inspect dis ast dataclasses typing email http importlib.metadata importlib.resources
    zipfile tarfile gzip argparse gettext getopt datetime _strptime calendar subprocess
    pickle shutil pathlib threading _threading_local statistics fractions random bisect
    tempfile pprint tracemalloc csv quopri base64 py_compile resource"
CODEC_EXCLUDES=$(cd "$("$PYTHON" -c 'import encodings, os; print(os.path.dirname(encodings.__file__))')" &&
    ls ./*.py | sed 's|^\./||; s|\.py$||' | grep -vxE '__init__|aliases|utf_8|ascii|latin_1|idna' | sed 's/^/encodings./')

# step name | entrypoint commit | excludes | PyInstaller options | staticx compression | zlib level
STEPS=(
  "0-baseline|c732bda|BASE||none|9"
  "1-entrypoint-cuts|b2f61cd|BASE||none|9"
  "2-graph-excludes|b2f61cd|BASE GRAPH||none|9"
  "3-codecs-utf8|b2f61cd|BASE GRAPH CODECS|X utf8|none|9"
  "4-lazy-urls-os_exit|16f3ced|BASE GRAPH CODECS|X utf8|none|9"
  "5-optimize2|16f3ced|BASE GRAPH CODECS|X utf8,O2|none|9"
  # the size/time front, before (baseline) and after (the shipped recipe) the levers
  "front-before-xz|c732bda|BASE||xz|9"
  "front-before-stored|c732bda|BASE||none|0"
  "front-before-allxz|c732bda|BASE||xz|0"
  "front-after-xz|16f3ced|BASE GRAPH CODECS|X utf8,O2|xz|9"
  "front-after-stored|16f3ced|BASE GRAPH CODECS|X utf8,O2|none|0"
  "front-after-allxz|16f3ced|BASE GRAPH CODECS|X utf8,O2|xz|0"
)

build_step() {
    IFS='|' read -r name commit lists options compression level <<<"$1"
    local dir=$OUT/$name src=$OUT/$name/src
    rm -rf "$dir"; mkdir -p "$src"
    git -C "$REPO" archive "$commit" entrypoint | tar -x -C "$src"
    local args=() module list option
    for list in $lists; do
        case $list in BASE) list=$BASE_EXCLUDES ;; GRAPH) list=$GRAPH_EXCLUDES ;; CODECS) list=$CODEC_EXCLUDES ;; esac
        for module in $list; do args+=(--exclude-module "$module"); done
    done
    IFS=',' read -ra option <<<"$options"
    for o in "${option[@]}"; do
        case $o in O2) args+=(--optimize 2) ;; ?*) args+=(--python-option "$o") ;; esac
    done
    PYINSTALLER_ZLIB_COMPRESSION_LEVEL=$level "$VENV/bin/pyinstaller" --onefile --noconfirm --clean \
        --log-level WARN --name sidecar-killer --paths "$src" --strip --noupx "${args[@]}" \
        --distpath "$dir/dist" --workpath "$dir/build" --specpath "$dir" "$REPO/build/launcher.py" 2>"$dir/log"
    local compress=(--no-compress); [ "$compression" = xz ] && compress=()
    "$VENV/bin/staticx" --strip "${compress[@]}" "$dir/dist/sidecar-killer" "$dir/sidecar-killer" 2>>"$dir/log"
    chmod 0755 "$dir/sidecar-killer"
    echo "levers.sh: $name $(stat -c %s "$dir/sidecar-killer") bytes" >&2
}

if [ "$what" = build ] || [ "$what" = all ]; then
    WORK=$WORK "$REPO/build/freeze.sh" tools
    for step in "${STEPS[@]}"; do build_step "$step"; done
    # The shipped recipe, built by build/freeze.sh itself (its default: the last step's choices).
    WORK=$WORK OUT=$OUT/6-shipped/sidecar-killer "$REPO/build/freeze.sh"
fi
if [ "$what" = measure ] || [ "$what" = all ]; then
    variants=()
    for step in "${STEPS[@]}"; do variants+=(--variant "${step%%|*}=$OUT/${step%%|*}/sidecar-killer"); done
    variants+=(--variant "6-shipped=$OUT/6-shipped/sidecar-killer")
    "$REPO/bench/.venv/bin/python" "$REPO/bench/run.py" --wrappers "" "${variants[@]}" \
        --scenarios job,run --chart '' --out "$OUT/results" "$@"
fi
