"""What `--version` prints: the version, the source commit, the Python and the platform.

    sidecar-killer 0.1.0 (commit 0123456789ab, Python 3.11.2, linux/arm64)

The static binary carries what its build stamped: build/freeze_modules.py freezes a module
_sidecar_killer_build holding the commit (build/source-commit.sh: 12 hex digits, "-dirty" when
the sources differed from it) and the platform built for. `python -m entrypoint` has no stamp:
its commit is unknown and its platform is the machine's it runs on.
"""
import os
import sys

from entrypoint import __version__

# uname's machine names as OCI platforms spell the architectures we build.
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}


def stamp() -> tuple:
    """(commit, platform) as built into the binary, or as far as they can be told here."""
    try:
        import _sidecar_killer_build as build  # frozen into the static binary only
    except ImportError:
        machine = os.uname().machine
        return "unknown", f"linux/{ARCHITECTURES.get(machine, machine)}"
    return build.COMMIT, build.PLATFORM


def version_line() -> str:
    commit, platform = stamp()
    python = "{}.{}.{}".format(*sys.version_info[:3])
    return f"sidecar-killer {__version__} (commit {commit}, Python {python}, {platform})"
