#!/usr/bin/env bash
# The levers of the static build, rebuilt and measured side by side (docs/performance.md).
#
#   bench/levers.sh [build|measure|all] [extra bench/run.py args]     (default: all; root)
#
# build:   bench/out/levers/VARIANT/sidecar-killer for each variant below, from the build/ and
#          entrypoint/ of COMMIT (default HEAD, by git archive), the variant's change made to
#          that copy only (build/ is never changed), linked by build/freeze.sh in the Debian
#          stage `make build` uses (BUILD_IMAGE, default sidecar-killer:build; `make image`).
# measure: bench/run.py with every variant interleaved: processes, bytes written, job overhead,
#          CPU per start, start delay under --cpus 0.1, RSS, size (e.g. --rounds 21 --quiet-load 1.5).
#
#   shipped            build/freeze.sh as it is: bytecode zlib-compressed (level 9) and
#                      unpacked at import; libpython's own frozen tables replaced by ours, so its
#                      deep-frozen stdlib is not linked
#   stored             the bytecode stored as plain marshal data: no inflate, a bigger binary
#   deepfreeze         libpython's frozen tables kept: its deep-frozen importlib bootstrap and
#                      start-up modules (os, io, codecs, abc, stat, posixpath, ...) are used as
#                      they are (no unmarshal); our table, looked up before them, holds the rest
#   stored-deepfreeze  both
#   profile            shipped, with a staged __main__ for bench/profile.py (SK_PROFILE_STAGE)
#   profile-stored     stored, the same
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$REPO/bench/out/levers
COMMIT=${COMMIT:-HEAD}
BUILD_IMAGE=${BUILD_IMAGE:-sidecar-killer:build}
VARIANTS=(shipped stored deepfreeze stored-deepfreeze profile profile-stored)
MEASURED=(shipped stored deepfreeze stored-deepfreeze)
what=${1:-all}; shift || true

# Make VARIANT's change in the source copy SRC. Each edit must find its text exactly once:
# when build/ changes, this fails loudly instead of measuring something else.
patch_variant() {
    python3 - "$1" "$2" <<'EOF'
import sys
from pathlib import Path

variant, src = sys.argv[1], Path(sys.argv[2])

def edit(path, old, new):
    file = src / path
    text = file.read_text()
    if text.count(old) != 1:
        sys.exit(f"levers.sh: {variant}: {path} no longer has, once: {old!r}")
    file.write_text(text.replace(old, new))

if "stored" in variant:
    edit("build/freeze_modules.py", "return packer.compress(data) + packer.flush(), len(data)",
         "return data, len(data)")
    edit("build/freeze_modules.py", "{{ return sk_unpack({symbol}, sizeof {symbol}, {size}); }}",
         "{{ return PyMarshal_ReadObjectFromString((const char *){symbol}, sizeof {symbol}); }}")
    edit("build/freeze_modules.py", '"#include <Python.h>\\n\\n",', '"#include <Python.h>\\n#include <marshal.h>\\n\\n",')

if "deepfreeze" in variant:
    # frozen.c keeps only our table, as sk_frozen_modules (main.c installs it), without the
    # modules libpython has frozen itself: the interpreter then finds those in libpython's
    # tables, which the linker pulls in with the deep-frozen code. The unused tables and data
    # left in frozen.c are dropped by the compiler.
    edit("build/freeze_modules.py", "\ndef main(", '''
def libpython_tables_kept(text: str) -> str:
    import _imp
    import re
    kept = set(_imp._frozen_module_names())
    text = re.sub(r'    \\{"([^"]+)", modules_\\d+.*\\n', lambda m: "" if m[1] in kept else m[0], text)
    text = re.sub(r"const struct _(frozen|module_alias) \\*_PyImport_Frozen\\w+ = \\w+;\\n", "", text)
    text = text.replace("const struct _frozen *PyImport_FrozenModules = modules;",
                        "const struct _frozen *sk_frozen_modules = modules;")
    return ('#pragma GCC diagnostic ignored "-Wunused-const-variable"\\n'
            '#pragma GCC diagnostic ignored "-Wunused-function"\\n' + text)

\ndef main(''')
    edit("build/freeze_modules.py", '        out.writelines(parts)\n',
         '        out.write(libpython_tables_kept("".join(parts)))\n')
    edit("build/main.c", "int main(int argc, char **argv)\n{\n",
         "extern const struct _frozen *sk_frozen_modules;\n\n"
         "int main(int argc, char **argv)\n{\n    PyImport_FrozenModules = sk_frozen_modules;\n")
    unpack = (src / "build/unpack.c").read_text()
    edit("build/unpack.c", unpack[unpack.index("/* frozen.c replaces libpython"):], "")

if variant.startswith("profile"):
    # Stop after a stage, to time the start-up stage by stage: the same imports as the real
    # launcher, so PyInstaller's analysis gives the same modules.
    (src / "build/launcher.py").write_text('''\
import os
stage = os.environ.get("SK_PROFILE_STAGE", "")
if os.environ.get("SK_PROFILE_MODULES"):  # list what the run imported, at its os._exit
    import sys
    _exit = os._exit
    def listing_exit(code):
        os.write(2, ("modules: " + " ".join(sorted(sys.modules)) + "\\n").encode())
        _exit(code)
    os._exit = listing_exit
if stage == "interpreter":
    os._exit(0)
import socket
if stage == "socket":
    os._exit(0)
import email.parser
if stage == "email":
    os._exit(0)
import http.client
if stage == "http.client":
    os._exit(0)
from entrypoint.cli import run
if stage == "entrypoint":
    os._exit(0)
run()
''')
EOF
}

if [ "$what" = build ] || [ "$what" = all ]; then
    docker image inspect "$BUILD_IMAGE" >/dev/null 2>&1 || { echo "levers.sh: no $BUILD_IMAGE: make image" >&2; exit 1; }
    rm -rf "$OUT"
    for variant in "${VARIANTS[@]}"; do
        mkdir -p "$OUT/$variant/src"
        git -C "$REPO" archive "$COMMIT" build entrypoint | tar -x -C "$OUT/$variant/src"
        patch_variant "$variant" "$OUT/$variant/src"
        git -C "$REPO" rev-parse "$COMMIT" > "$OUT/$variant/commit"
    done
    # One container, every variant: the image's build venv (WORK) is reused; modules.json
    # and frozen.c are kept next to each binary (bench/profile.py reads modules.json).
    docker run --rm --network host -v "$OUT:/levers" "$BUILD_IMAGE" bash -ec '
        for variant in '"${VARIANTS[*]}"'; do
            WORK=/src/build/work OUT=/levers/$variant/sidecar-killer /levers/$variant/src/build/freeze.sh 2>/levers/$variant/log \
                || { cat /levers/$variant/log >&2; exit 1; }
            cp /src/build/work/modules.json /src/build/work/frozen.c /levers/$variant/
            echo "levers.sh: $variant $(stat -c %s /levers/$variant/sidecar-killer) bytes" >&2
        done'
fi
if [ "$what" = measure ] || [ "$what" = all ]; then
    variants=()
    for variant in "${MEASURED[@]}"; do variants+=(--variant "$variant=$OUT/$variant/sidecar-killer"); done
    "$REPO/bench/.venv/bin/python" "$REPO/bench/run.py" --wrappers "" "${variants[@]}" \
        --scenarios job,run,cpu100m --chart '' --out "$OUT/results" "$@"
fi
