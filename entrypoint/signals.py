"""Collect signals synchronously instead of with handlers (tini's way).

Every catchable signal is blocked from the start and read with sigtimedwait(), so none is lost
while we wait for the proxy or start the app, none runs a Python handler late, and the process
never dies by one: as PID 1 a signal death would lose the app's exit code and the quit.
"""
from __future__ import annotations

import os
import signal
import time

# KILL and STOP cannot be caught; TSTP, TTIN and TTOU keep their job-control meaning.
NOT_COLLECTED = {signal.SIGKILL, signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU}
COLLECTED = frozenset(signal.valid_signals() - NOT_COLLECTED)
# While still waiting for the proxy, these abandon the start (128+N), as a shell would.
STOP_WAITING = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT})
# Reset to default in the app (it starts as if exec'd by a shell); KILL/STOP cannot be set.
APP_DEFAULTS = frozenset(signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP})


def block() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, COLLECTED)


def unblock() -> None:
    """For the one-shot modes: a signal ends them as it would any command. (The static
    binary starts with COLLECTED blocked, build/main.c.)"""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, COLLECTED)


def name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        if signal.SIGRTMIN < signum <= signal.SIGRTMAX:
            return f"SIGRTMIN+{signum - signal.SIGRTMIN}"
        return f"signal {signum}"


def next_signal(timeout: float) -> int | None:
    """The next signal sent to us (SIGCHLD included), or None once ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        info = signal.sigtimedwait(COLLECTED, max(deadline - time.monotonic(), 0))
        if info is None:
            return None
        # A SIGPIPE we raised ourselves (logging to a closed pipe) is not the caller's to forward.
        if info.si_pid == os.getpid() and info.si_code == 0:  # SI_USER from ourselves
            continue
        return info.si_signo
