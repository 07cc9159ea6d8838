"""Start the app and stay with it: forward signals, reap every zombie, return its wait status."""
from __future__ import annotations

import functools
import gc
import os
import sys

from entrypoint import signals

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>

# What freezers put in our environment that the app must not inherit (PyInstaller, staticx).
_FREEZER_PREFIXES = ("_PYI_", "_MEI", "STATICX_")


@functools.cache
def _libc():
    import ctypes  # only here: the two libc calls below are all the wrapper needs it for
    return ctypes.CDLL(None, use_errno=True)


def become_subreaper() -> bool:
    """Adopt orphans of the app, so we reap them: under the frozen chain PID 1 never does."""
    try:
        return _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def release_startup_memory() -> None:
    """Hand back what start-up left behind (import-time garbage, freed heap) while the app
    runs: ~0.1 MiB of the chain's RSS budget (docs/performance.md)."""
    gc.collect()
    try:
        _libc().malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to trim


def app_environment(environ: dict, frozen: bool) -> dict:
    """The environment as the caller gave it, minus what a freezer injected into ours."""
    env = dict(environ)
    if frozen:
        # PyInstaller points LD_LIBRARY_PATH at its extraction dir and keeps the caller's value.
        original = env.pop("LD_LIBRARY_PATH_ORIG", None)
        if original is not None:
            env["LD_LIBRARY_PATH"] = original
        else:
            env.pop("LD_LIBRARY_PATH", None)
        env = {k: v for k, v in env.items() if not k.startswith(_FREEZER_PREFIXES)}
    return env


def spawn(command: list, env: dict, new_group: bool) -> int:
    """Start the app with a clean signal mask and default dispositions; raises OSError."""
    group = {"setpgroup": 0} if new_group else {}  # 0: a new group led by the app
    return os.posix_spawnp(command[0], command, env,
                           setsigmask=(), setsigdef=signals.APP_DEFAULTS, **group)


class Supervisor:
    """tini's loop: forward each signal once, reap whatever exited, until the app itself has."""

    def __init__(self, pid: int, signal_group: bool, log, poll: float = 1.0):
        self.pid = pid
        self.signal_group = signal_group
        self.log = log
        self.poll = poll  # reap at least this often even if SIGCHLD was coalesced away

    def forward(self, signum: int) -> None:
        target = f"process group {self.pid}" if self.signal_group else f"pid {self.pid}"
        self.log.debug("signal_forwarded", f"forwarding {signals.name(signum)} to {target}",
                       signal=signals.name(signum))
        try:
            if self.signal_group:
                os.killpg(self.pid, signum)
            else:
                os.kill(self.pid, signum)
        except ProcessLookupError:
            pass  # already gone: its exit status is on its way

    def reap(self) -> int | None:
        """Collect every exited child; the app's wait status once it is among them."""
        app_status = None
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == self.pid:
                app_status = status
            else:
                self.log.debug("orphan_reaped", f"reaped orphan pid {pid}", pid=pid)
        return app_status

    def run(self) -> int:
        while True:
            signum = signals.next_signal(self.poll)
            if signum is not None and signum != signals.signal.SIGCHLD:
                self.forward(signum)
            status = self.reap()
            if status is not None:
                return status


def frozen() -> bool:
    return bool(getattr(sys, "frozen", False))
