"""waiting.py: deadlines, tasks side by side on one thread, signals handed to the caller's policy."""
import os
import select
import signal
import socket
import threading
import time

import pytest

from entrypoint import signals, waiting
from tests.helpers.fakes import faked_time


def test_a_deadline_counts_down_and_never_below_its_floor(fake_time):
    deadline = waiting.Deadline.after(2)
    fake_time.now = 1.5
    assert deadline.left() == 0.5 and not deadline.expired()
    fake_time.now = 3
    assert deadline.left() == 0 and deadline.left(floor=0.1) == 0.1 and deadline.expired()
    assert deadline.within(5).at == 2 and waiting.Deadline.after(None).within(1).at == 4
    assert waiting.Deadline.after(None).left() == float("inf") and not waiting.Deadline(None).expired()


def sleeper(seconds, result):
    yield from waiting.sleep(waiting.Deadline.after(seconds))
    return result


def test_tasks_run_side_by_side(fake_time):
    assert waiting.run([sleeper(0.3, "a"), sleeper(0.1, "b"), sleeper(0.2, "c")]) == ["a", "b", "c"]
    assert fake_time.now == pytest.approx(0.3)


def test_the_policy_sees_every_signal_and_may_end_the_run():
    seen = []
    with faked_time([(0.1, signal.SIGUSR1), (0.2, signal.SIGTERM), (0.3, signal.SIGHUP)]) as clock:
        with pytest.raises(waiting.Stopped) as stop:
            waiting.run([sleeper(5, None)], lambda signum: seen.append(signum) or signum == signal.SIGTERM)
    assert stop.value.signum == signal.SIGTERM and seen == [signal.SIGUSR1, signal.SIGTERM]
    assert clock.now == pytest.approx(0.2)


def test_a_stopped_run_closes_every_task():
    closed = []

    def task():
        try:
            yield from waiting.sleep(waiting.Deadline.after(5))
        finally:
            closed.append(True)
    with faked_time([(0.1, signal.SIGTERM)]):
        with pytest.raises(waiting.Stopped):
            waiting.run([task(), task()], lambda signum: True)
    assert closed == [True, True]


def test_real_sockets_wait_side_by_side_and_time_out():
    """Two socket pairs on the real clock: one answers after 0.1 s, the other never."""
    answering, far_end = socket.socketpair()
    silent, _keep = socket.socketpair()

    def reader(sock, seconds):
        try:
            yield from waiting.ready(sock, select.POLLIN, waiting.Deadline.after(seconds))
        except TimeoutError:
            return "timed out"
        return sock.recv(10)
    threading.Timer(0.1, far_end.send, (b"hi",)).start()
    started = time.monotonic()
    assert waiting.run([reader(answering, 2), reader(silent, 0.3)]) == [b"hi", "timed out"]
    assert 0.3 <= time.monotonic() - started < 2, "each by its own deadline, not one after the other"


def test_a_blocked_signal_cuts_a_socket_wait_within_a_slice():
    """The real loop: a SIGTERM sent while a socket is waited on ends the run, long before the
    socket's 5 s deadline (how soon is a figure for make bench, not for a busy test machine)."""
    signals.block()
    try:
        silent, _keep = socket.socketpair()

        def reader():
            yield from waiting.ready(silent, select.POLLIN, waiting.Deadline.after(5))
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGTERM)).start()
        started = time.monotonic()
        with pytest.raises(waiting.Stopped):
            waiting.run([reader()], lambda signum: signum in signals.STOP_WAITING)
        assert time.monotonic() - started < 2
    finally:
        signals.unblock()


def test_a_task_error_ends_the_run_and_is_raised(fake_time):
    def broken():
        yield from waiting.sleep(waiting.Deadline.after(0.1))
        raise KeyError("bug")
    with pytest.raises(KeyError):
        waiting.run([broken(), sleeper(1, None)])
