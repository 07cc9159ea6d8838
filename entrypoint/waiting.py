"""Every wait of sidecar-killer: bounded by a deadline, with signals looked at throughout.

Waiting is written once, here. A Deadline says how long is left. The work that waits (an HTTP
request, the readiness probes, each quit URL) is written as a task: a generator that yields
what it waits for, ``yield (socket, events, deadline)`` or ``yield (None, 0, deadline)`` to
sleep, and is sent back True when its socket is ready, False when its deadline came first.
``run`` drives tasks side by side in one poll loop on this thread: no thread and no process is
needed, so a quit still goes out when the pod's pid limit is full. Every signal that arrives
meanwhile goes to the caller's policy, which may end the run (``Stopped``).

Time and signals come from ``system``: the real clock, poll and sigtimedwait, or the tests'
fake (tests/helpers/fakes.py FakeSystem), so no function here or above takes a clock.
"""
import posix as os  # the C module: os.py brings os.path, stat and _collections_abc
import select
import _signal as signal  # the C module: signal.py brings enum
import time

from entrypoint.signals import COLLECTED

# While sockets are waited on, signals are looked at this often (no ppoll in Python).
SLICE = 0.02


class RealSystem:
    """The clock, readiness of sockets, and the next signal, from the kernel."""

    monotonic = staticmethod(time.monotonic)

    @staticmethod
    def poll(interest: dict, timeout: float) -> set:
        """The fds of ``interest`` ({fd: events}) that are ready within ``timeout`` seconds."""
        poller = select.poll()
        for fd, events in interest.items():
            poller.register(fd, events)
        return {fd for fd, _ in poller.poll(timeout * 1000)}

    @staticmethod
    def next_signal(timeout: float) -> int | None:
        """The next signal sent to us (SIGCHLD included), or None once ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            info = signal.sigtimedwait(COLLECTED, max(deadline - time.monotonic(), 0))
            if info is None:
                return None
            # A SIGPIPE we raised ourselves (logging to a closed pipe) is nobody's to act on.
            if info.si_signo == signal.SIGPIPE and info.si_pid == os.getpid() and info.si_code == 0:
                continue
            return info.si_signo


system = RealSystem()


class Deadline:
    """A moment on the monotonic clock, or never (``at`` is None)."""
    __slots__ = ("at",)

    def __init__(self, at: float | None):
        self.at = at

    @classmethod
    def after(cls, seconds: float | None) -> "Deadline":
        """``seconds`` from now; None: never."""
        return cls(None if seconds is None else system.monotonic() + seconds)

    def left(self, floor: float = 0.0) -> float:
        """Seconds left, never below ``floor``; infinite for never."""
        if self.at is None:
            return float("inf")
        return max(self.at - system.monotonic(), floor)

    def expired(self) -> bool:
        return self.at is not None and system.monotonic() >= self.at

    def within(self, seconds: float) -> "Deadline":
        """The sooner of this deadline and ``seconds`` from now."""
        at = system.monotonic() + seconds
        return Deadline(at if self.at is None else min(self.at, at))


class Stopped(Exception):
    """The caller's signal policy ended the run: ``signum`` arrived."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def ignore(signum: int) -> bool:
    """The policy that lets every signal pass: nothing ends the run."""
    return False


def next_signal(deadline: Deadline) -> int | None:
    """The next signal, or None at the deadline."""
    return system.next_signal(deadline.left())


def sleep(deadline: Deadline):
    """A task's step: until ``deadline``."""
    yield None, 0, deadline


def ready(sock, events: int, deadline: Deadline):
    """A task's step: until ``sock`` is ready for ``events``; TimeoutError at the deadline."""
    if not (yield sock, events, deadline):
        raise TimeoutError


def run(tasks: list, on_signal=ignore) -> list:
    """Drive ``tasks`` side by side until each has returned; their results, in order.

    ``on_signal(signum)`` is called for every signal that arrives meanwhile; when it returns
    True, every task is closed (their ``finally`` clauses run) and Stopped is raised. A task's
    exception other than StopIteration ends the run too and is raised here.
    """
    results = [None] * len(tasks)
    waits: dict = {}  # task index -> (socket or None, events, deadline)

    def advance(index: int, value) -> None:
        try:
            waits[index] = tasks[index].send(value)
        except StopIteration as done:
            results[index] = done.value
            waits.pop(index, None)

    try:
        for index in range(len(tasks)):
            advance(index, None)
        while waits:
            interest = {sock.fileno(): events for sock, events, _ in waits.values() if sock is not None}
            soonest = min(deadline.left() for _, _, deadline in waits.values())
            if interest:
                ready_fds = system.poll(interest, min(soonest, SLICE))
                signum = system.next_signal(0)
            else:
                ready_fds = set()
                signum = system.next_signal(min(soonest, 86400.0))
            while signum is not None:
                if on_signal(signum):
                    raise Stopped(signum)
                signum = system.next_signal(0)
            for index, (sock, _, deadline) in list(waits.items()):
                if sock is not None and sock.fileno() in ready_fds:
                    advance(index, True)
                elif deadline.expired():
                    advance(index, False)
    finally:
        for task in tasks:
            task.close()
    return results


def run_one(task, on_signal=ignore):
    """``run`` for a single task: its result."""
    return run([task], on_signal)[0]
