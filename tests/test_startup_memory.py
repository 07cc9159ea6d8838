"""Start-up's memory (entrypoint/supervisor.py) is given back once the app has run a moment, and
only then: a job that is over by then never pays for it, and an app's start under a small CPU
limit does not share it with the release."""
import os
import signal
import time

import pytest

from entrypoint import supervisor
from entrypoint.supervisor import RELEASE_AFTER, Supervisor
from tests.helpers.fakes import Recorder


@pytest.fixture
def released(monkeypatch):
    """When each release happened, on the monotonic clock."""
    moments = []
    monkeypatch.setattr(supervisor, "release_startup_memory", lambda: moments.append(time.monotonic()))
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # as the wrapper collects it
    yield moments
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def supervise(argv: list) -> tuple:
    """(the app's exit code, when it started, when the supervisor returned)."""
    started = time.monotonic()
    pid = os.posix_spawnp(argv[0], argv, dict(os.environ))
    status = Supervisor(pid, False, Recorder()).run()
    return os.waitstatus_to_exitcode(status), started, time.monotonic()


def test_an_app_that_runs_on_gets_the_memory_back_after_a_moment_once(released):
    code, started, ended = supervise(["sleep", "1.5"])
    assert code == 0
    assert len(released) == 1
    assert released[0] - started >= RELEASE_AFTER
    assert released[0] < ended - 0.5, "while the app runs, not at its end"


def test_a_job_over_before_the_moment_never_pays_for_the_release(released, monkeypatch):
    monkeypatch.setattr(supervisor, "RELEASE_AFTER", 30.0)  # the app is surely over by then
    code, _, _ = supervise(["sh", "-c", "exit 3"])
    assert code == 3
    assert released == []
