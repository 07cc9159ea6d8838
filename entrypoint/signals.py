"""Collect signals synchronously instead of with handlers (tini's way).

Every catchable signal is blocked from the start and collected with sigtimedwait() wherever we
wait (waiting.py), so none is lost
while we wait for the proxy or start the app, none runs a Python handler late, and the process
never dies by one: as PID 1 a signal death would lose the app's exit code and the quit.
"""
import posix as os  # the C module: os.py brings os.path, stat and _collections_abc
import _signal as signal  # the C module: signal.py brings enum

# KILL and STOP cannot be caught.
COLLECTED = frozenset(signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP})
# While still waiting for the proxy, or quitting it, these end that wait (128+N before the app
# started), as they would end a shell.
STOP_WAITING = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT})
# The terminal's stop signals: the whole job (the app and us) stops, as under a shell.
JOB_STOP = frozenset({signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})


def block() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, COLLECTED)


def unblock() -> None:
    """For the one-shot modes: a signal ends them as it would any command. (The static
    binary starts with COLLECTED blocked, launcher/main.c.)"""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, COLLECTED)


# Each number's name as signal.Signals gives it: of aliases (SIGABRT, SIGIOT) the first in
# alphabetical order.
_NAMES = {}
for _name in sorted(dir(signal)):
    if _name.startswith("SIG") and not _name.startswith("SIG_"):
        _NAMES.setdefault(getattr(signal, _name), _name)


def name(signum: int) -> str:
    if signum in _NAMES:
        return _NAMES[signum]
    if signal.SIGRTMIN < signum <= signal.SIGRTMAX:
        return f"SIGRTMIN+{signum - signal.SIGRTMIN}"
    return f"signal {signum}"


def stop_self() -> None:
    """Stop as a job does on the terminal's stop signals; a SIGCONT resumes us (ignored by the
    kernel when we are PID 1)."""
    os.kill(os.getpid(), signal.SIGSTOP)
