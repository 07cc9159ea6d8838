"""What `--version` prints: the version, the source commit, the CPython and the C library, the platform.

    sidecar-killer 0.1.0 (commit 0123456789ab, CPython 3.11.2 from Debian's libpython3.11-dev
    3.11.2-6+deb12u9, glibc 2.36 from Debian's libc6-dev 2.36-9+deb12u14, linux/arm64)

(one line). The static binary carries what its build stamped: build/freeze_modules.py freezes a
module _sidecar_killer_build holding the commit (build/source-commit.sh: 12 hex digits, "-dirty"
when the sources differed from it), the platform built for, and the Debian package and version of
the libpython and of the libc linked into it (build/freeze.sh asks dpkg). The versions of CPython
and glibc themselves are what the running code says (sys.implementation, and glibc's
confstr(_CS_GNU_LIBC_VERSION)): in the static binary, those of the code linked.
`python -m entrypoint` has no stamp: its commit is unknown, its platform is the machine's it runs
on, and it names the Python that runs it and, where it can tell, that Python's glibc.
"""
import posix as os  # the C module: os.py brings os.path, stat and _collections_abc
import sys

from entrypoint import __version__

# uname's machine names as OCI platforms spell the architectures we build.
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}
IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy"}


def stamp() -> tuple:
    """(commit, platform, (libpython's Debian package, version) or None, (libc's ...) or None) as
    built into the binary, or as far as they can be told here."""
    try:
        import _sidecar_killer_build as build  # frozen into the static binary only
    except ImportError:
        machine = os.uname().machine
        return "unknown", f"linux/{ARCHITECTURES.get(machine, machine)}", None, None
    return build.COMMIT, build.PLATFORM, build.PYTHON_PACKAGE, build.LIBC_PACKAGE


def libc() -> str:
    """The C library's name and version, "glibc 2.36"; "" where it does not say (musl)."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        return ""


def version_line() -> str:
    commit, platform, python_package, libc_package = stamp()
    implementation = sys.implementation
    python = "{} {}.{}.{}".format(IMPLEMENTATIONS.get(implementation.name, implementation.name),
                                  *implementation.version[:3])
    parts = [f"commit {commit}", python]
    if python_package:
        parts[-1] += " from Debian's {} {}".format(*python_package)
    c_library = libc()
    if libc_package:
        c_library = (c_library or "libc") + " from Debian's {} {}".format(*libc_package)
    if c_library:
        parts.append(c_library)
    parts.append(platform)
    return f"sidecar-killer {__version__} ({', '.join(parts)})"
