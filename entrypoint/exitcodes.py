"""The exit codes sidecar-killer itself chooses, and how the app's wait status becomes one.

Our own failures use the BSD sysexits.h values, as linkerd-await does; command-not-found and
not-executable use the shell's 127 and 126, as tini and dumb-init do.
"""
import posix as os  # the C module: os.py brings os.path, stat and _collections_abc

NOT_READY = 1        # --check-ready: proxy not ready; --quit-only: a quit did not land
USAGE = 64           # EX_USAGE: bad option, value or environment variable
UNAVAILABLE = 69     # EX_UNAVAILABLE: proxy not ready in time with --on-ready-timeout=fail
SOFTWARE = 70        # EX_SOFTWARE: internal error in sidecar-killer
OSERR = 71           # EX_OSERR: the app could not be started for lack of a system resource
IOERR = 74           # EX_IOERR: --help or --version could not be written to stdout
CANNOT_EXECUTE = 126  # the command exists but cannot be executed
NOT_FOUND = 127      # the command was not found
SIGNAL_BASE = 128    # the app was killed by signal N: 128 + N


def from_wait_status(status: int) -> int:
    """Exit code for a waitpid() status: the app's own code, or 128+N if signal N killed it."""
    code = os.waitstatus_to_exitcode(status)
    return SIGNAL_BASE - code if code < 0 else code


# Our own codes and what each means, for --help: the app's own code and 128+N come first there.
MEANINGS = (
    (USAGE, "usage error"),
    (UNAVAILABLE, "proxy not ready in time"),
    (SOFTWARE, "internal error"),
    (OSERR, "could not start the app: no process or memory left"),
    (IOERR, "--help/--version not written"),
    (CANNOT_EXECUTE, "command not executable"),
    (NOT_FOUND, "command not found"),
    (NOT_READY, "--check-ready/--quit-only failed"),
)


def internal_error(log, error: Exception) -> int:
    """A bug of ours: said in one line, and EX_SOFTWARE."""
    log.error("internal_error", f"internal error: {type(error).__name__}: {error}; please report it")
    return SOFTWARE
