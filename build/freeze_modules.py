"""Write frozen_modules.h: every Python module the binary runs, and its built-in C modules.

    PYTHONHASHSEED=0 python3 -X no_debug_ranges build/freeze_modules.py modules.json \
        frozen_modules.h COMMIT PLATFORM "PYTHON_PACKAGE VERSION" "LIBC_PACKAGE VERSION"

modules.json comes from build/modules.spec: PyInstaller's import analysis decides what goes in.
Run this with the very interpreter whose static libpython is linked (build/python-version): the
bytecode must match it.

frozen_modules.h is module data only; launcher/cpythonXY.c includes it and puts it in place of
libpython's own tables (the CPython internals live there alone):
- sk_modules: each module compiled at optimize 2 (no docstrings, no asserts) and marshalled,
  for CPython to unmarshal in place when first imported: our package, what the interpreter's
  own start imports (STARTUP), two codecs (CODECS); and _sidecar_killer_build (the build's
  stamp as given, for `--version`: COMMIT, PLATFORM, and PYTHON_PACKAGE and LIBC_PACKAGE, each (Debian package, version) of the libpython and the
  libc linked, which build/freeze.sh asks dpkg);
- sk_bootstrap: importlib's bootstrap from this interpreter's sources, and in place of its
  importers of files (_bootstrap_external, zipimport) launcher/importlib_external.py, which
  installs none: nothing here is imported from a file;
- SK_INITTAB: the built-in C modules every interpreter needs plus those the analysis reaches,
  so the linker leaves out the rest (unicodedata, pyexpat, the hashes: ~2 MB).
Beside it, frozen.json lists what went in (module names and source files, built-in C
modules): the release's SBOM is made from it (build/release/sbom.py).

PYTHONHASHSEED=0 keeps set constants in one order: the same inputs give the same bytes.
"""
import json
import marshal
import os
import re
import sys

# The built-in C modules the interpreter imports while starting, before any of our code:
# importlib's bootstrap (_imp, _thread, _warnings, _weakref, _io, marshal, posix), the codecs and
# the I/O stack of STARTUP (_codecs, _abc, _io), and what Python/pylifecycle.c sets up itself
# (builtins, sys, _signal, time, gc, atexit, errno). The others of Modules/config.c.in and
# Setup.bootstrap.in are built in only when our code imports them (the analysis says): no module
# table entry, no code linked (_sre, _locale, itertools, pwd with glibc's NSS, ...).
CORE_BUILTINS = {
    "builtins", "sys", "_imp", "_thread", "_warnings", "_weakref", "_io", "marshal", "posix",
    "_codecs", "_abc", "_signal", "time", "gc", "atexit", "errno",
}
# Init functions not named PyInit_<name> (config.c.in); None: set up by the interpreter itself.
INIT_FUNCTIONS = {"marshal": "PyMarshal_Init", "_warnings": "_PyWarnings_Init",
                  "builtins": None, "sys": None}
PRODUCT_BUILTINS = {"_sidecar_killer"}  # launcher/native.c

# What the interpreter imports from _PyImport_FrozenBootstrap while starting (Python/frozen.c):
# importlib's bootstrap, and in place of its file-system importers the binary's own stand-in.
_LIB = os.path.dirname(os.__file__)
BOOTSTRAP = {
    "_frozen_importlib": os.path.join(_LIB, "importlib", "_bootstrap.py"),
    "_frozen_importlib_external": os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                               "launcher", "importlib_external.py"),
}
# What the interpreter itself imports at every start, before our __main__ (with the bootstrap): the
# I/O stack and the UTF-8 codec (ASCII and Latin-1 too, cheap, for a codec looked up by name).
STARTUP = {name: os.path.join(_LIB, path) for name, path in (
    ("abc", "abc.py"), ("codecs", "codecs.py"), ("io", "io.py"), ("encodings", "encodings/__init__.py"),
    ("encodings.aliases", "encodings/aliases.py"), ("encodings.utf_8", "encodings/utf_8.py"))}
CODECS = {name: os.path.join(_LIB, "encodings", name.split(".")[1] + ".py")
          for name in ("encodings.ascii", "encodings.latin_1")}


def fail(message: str):
    sys.exit(f"freeze_modules.py: {message}")


def marshalled(name: str, path: str) -> bytes:
    """The module's code at optimize 2, marshalled. Kept as it is, not deflated: every module
    here is imported at every start but the two codecs, and inflating them cost each start
    ~1.5 ms of CPU to save ~0.2 MB. (Marshal data starts with a type code, never with the NUL
    byte CPython takes for "no such module".)"""
    with open(path, "rb") as source:
        # The name, not the build path, in tracebacks: the same bytes from any checkout.
        code = compile(source.read(), f"<frozen {name}>", "exec", optimize=2, dont_inherit=True)
    return marshal.dumps(code)


# The build's stamp (build/freeze.sh passes it): a commit as build/source-commit.sh prints it,
# an OCI platform, and "PACKAGE VERSION" of the Debian packages of the libpython and the libc
# linked (Debian's package name and version syntax).
STAMP_MODULE = "_sidecar_killer_build"
COMMIT = re.compile(r"[0-9a-f]{7,40}(-dirty)?|unknown")
PLATFORM = re.compile(r"linux/[a-z0-9]+")
DEBIAN_PACKAGE = re.compile(r"([a-z0-9][a-z0-9.+-]+) ((?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*)")


def upstream(debian_version: str) -> str:
    """The upstream part of a Debian version: 1:2.36-9+deb12u1 -> 2.36."""
    version = debian_version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def build_module(directory: str, commit: str, platform: str, python_package: str, libc_package: str) -> tuple:
    """(name, path) of the stamp module, written into ``directory``."""
    if not COMMIT.fullmatch(commit) or not PLATFORM.fullmatch(platform):
        fail(f"bad stamp: commit {commit!r} (hex digits or 'unknown'), platform {platform!r} (linux/ARCH)")
    packages = {}
    for what, given in (("PYTHON_PACKAGE", python_package), ("LIBC_PACKAGE", libc_package)):
        match = DEBIAN_PACKAGE.fullmatch(given)
        if not match:
            fail(f"bad stamp: {what} {given!r} (a Debian package and its version)")
        packages[what] = (match[1], match[2])
    # The packages are those of this interpreter and its C library (the same Debian sources as the
    # static ones linked): a mismatch means the stamp names something else.
    running = {"PYTHON_PACKAGE": "{}.{}.{}".format(*sys.version_info[:3]),
               "LIBC_PACKAGE": os.confstr("CS_GNU_LIBC_VERSION").split()[-1]}
    for what, (package, version) in packages.items():
        if not re.match(re.escape(running[what]) + r"(?![0-9])", upstream(version)):
            fail(f"bad stamp: {what} {package} {version} is not of the {running[what]} building here")
    path = os.path.join(directory, STAMP_MODULE + ".py")
    with open(path, "w") as out:
        out.write(f'"""Stamped by build/freeze_modules.py."""\nCOMMIT = {commit!r}\nPLATFORM = {platform!r}\n'
                  + "".join(f"{what} = {package!r}\n" for what, package in packages.items()))
    return STAMP_MODULE, path


def c_bytes(symbol: str, data: bytes) -> str:
    rows = (",".join(map(str, data[i:i + 24])) for i in range(0, len(data), 24))
    return f"static const unsigned char {symbol}[] = {{\n" + ",\n".join(rows) + "\n};\n"


def frozen_table(table: str, modules: list, parts: list) -> None:
    """Append the data and struct _frozen table sk_<table> of ``modules`` [(name, path)]."""
    rows = []
    for name, path in modules:
        symbol = f"{table}_{len(rows)}"
        parts.append(c_bytes(symbol, marshalled(name, path)))
        is_package = os.path.basename(path) == "__init__.py"
        rows.append(f'    {{"{name}", {symbol}, (int)sizeof {symbol}, {int(is_package)}, NULL}},\n')
    parts.append(f"\nstatic const struct _frozen sk_{table}[] = {{\n")
    parts.extend(rows)
    parts.append("    {NULL, NULL, 0, 0, NULL},\n};\n\n")


def inittab(builtins: set) -> str:
    """SK_INITTAB: the entries of the built-in module table, and their init functions' prototypes."""
    names = sorted(builtins)
    functions = [INIT_FUNCTIONS.get(name, f"PyInit_{name}") for name in names]
    lines = [f"extern PyObject *{function}(void);\n" for function in functions if function]
    lines.append("\n#define SK_INITTAB \\\n")
    lines += [f'    {{"{name}", {function or "NULL"}}}, \\\n' for name, function in zip(names, functions)]
    lines.append("\n")
    return "".join(lines)


def main(spec_output: str, c_file: str, commit: str, platform: str, python_package: str,
         libc_package: str) -> None:
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "python-version")) as f:
        wanted = f.read().strip()
    if "{}.{}".format(*sys.version_info[:2]) != wanted:  # the bytecode must be the linked libpython's
        fail(f"build/python-version says {wanted}: run this with Python {wanted}")
    no_columns = next(compile("x", "", "eval").co_positions())[2] is None
    if os.environ.get("PYTHONHASHSEED") != "0" or not no_columns:
        fail("run with PYTHONHASHSEED=0 and -X no_debug_ranges (reproducible, compact bytecode)")
    with open(spec_output) as f:
        analysis = json.load(f)
    if analysis["extensions"]:
        fail(f"extension modules a static binary cannot load: {analysis['extensions']}; exclude them in "
             "build/modules.spec, or build them in")
    builtins = CORE_BUILTINS | set(analysis["builtins"]) | PRODUCT_BUILTINS
    not_built_in = builtins - set(sys.builtin_module_names) - PRODUCT_BUILTINS
    if not_built_in:
        fail(f"modules the binary needs are not built into this libpython: {sorted(not_built_in)}")

    stamp = build_module(os.path.dirname(os.path.abspath(c_file)), commit, platform, python_package, libc_package)
    ours = dict(analysis["modules"])
    modules = sorted({**ours, **STARTUP, **CODECS, STAMP_MODULE: stamp[1]}.items()) + [["__main__", analysis["entry"]]]
    unknown = {name for name in ours if name not in STARTUP and name.partition(".")[0] != "entrypoint"}
    if unknown:  # each costs the binary's size and, if imported at every start, its start
        print(f"freeze_modules.py: the standard library's Python modules our code imports: {sorted(unknown)}",
              file=sys.stderr)

    parts = ["/* Generated by build/freeze_modules.py from PyInstaller's analysis: do not edit.\n"
             " * Module data only, included by launcher/cpythonXY.c. */\n\n"]
    frozen_table("bootstrap", sorted(BOOTSTRAP.items()), parts)
    frozen_table("modules", modules, parts)
    parts.append(inittab(builtins))
    with open(c_file, "w") as out:
        out.writelines(parts)
    with open(os.path.join(os.path.dirname(os.path.abspath(c_file)), "frozen.json"), "w") as out:
        json.dump({"bootstrap": sorted(BOOTSTRAP.items()), "modules": modules, "builtins": sorted(builtins)},
                  out, indent=1)
    print(f"freeze_modules.py: {len(modules)} modules frozen, {len(builtins)} built in",
          file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 7:
        fail("usage: freeze_modules.py MODULES_JSON FROZEN_MODULES_H COMMIT PLATFORM "
             '"PYTHON_PACKAGE VERSION" "LIBC_PACKAGE VERSION"')
    main(*sys.argv[1:])
