"""Start the app and stay with it: forward signals, reap every zombie, return its wait status."""
from __future__ import annotations

import gc
import os

from entrypoint import native, signals


def become_subreaper() -> bool:
    """Adopt orphans of the app, so we reap them: when we are not PID 1, nobody else would."""
    return native.set_child_subreaper()


def release_startup_memory() -> None:
    """Hand back what start-up alone needed (import-time garbage, freed heap, the binary's
    code and bytecode pages) while the app runs (docs/performance.md)."""
    gc.collect()
    gc.enable()  # the static binary starts with it off (build/main.c)
    native.release_startup_memory()


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
