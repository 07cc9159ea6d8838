"""Following the app's job-control stops, decided in one place (Supervisor.app_stopped)."""
import os
import signal

import pytest

from entrypoint import supervisor
from entrypoint.supervisor import Supervisor
from entrypoint.terminal import Terminal

APP = 4242


class FakeTerminal(Terminal):
    def __init__(self, foreground):
        super().__init__(fd=0)
        self.holder = foreground
        self.given = []

    def foreground(self):
        return self.holder

    def pass_on(self, pgid, holder):
        if self.holder == holder:
            self.given.append(pgid)
            self.holder = pgid


@pytest.fixture
def seen(monkeypatch):
    """What app_stopped did: stopped us, or sent the app's group a signal."""
    done = []
    monkeypatch.setattr(supervisor.signals, "stop_self", lambda: done.append("stopped"))
    monkeypatch.setattr(supervisor.os, "killpg", lambda pgid, signum: done.append((pgid, signum)))
    monkeypatch.setattr(supervisor.signal, "sigpending", lambda: set())
    return done


def app_stopped(terminal, stopsig):
    Supervisor(APP, False, log=None, terminal=terminal).app_stopped(stopsig)


def test_ctrl_z_stops_the_job(seen):
    app_stopped(FakeTerminal(foreground=APP), signal.SIGTSTP)
    assert seen == ["stopped"]


def test_reading_the_terminal_from_the_background_stops_the_job(seen):
    app_stopped(FakeTerminal(foreground=1), signal.SIGTTIN)  # the shell holds the terminal
    assert seen == ["stopped"]


def test_fg_before_the_stop_was_seen_hands_the_terminal_on_and_resumes(seen):
    """The shell already gave our group the terminal (fg): the app gets it and goes on."""
    terminal = FakeTerminal(foreground=os.getpgrp())
    app_stopped(terminal, signal.SIGTTIN)
    assert seen == [(APP, signal.SIGCONT)] and terminal.given == [APP]


def test_a_pending_sigcont_means_the_job_goes_on(seen, monkeypatch):
    monkeypatch.setattr(supervisor.signal, "sigpending", lambda: {signal.SIGCONT})
    app_stopped(FakeTerminal(foreground=1), signal.SIGTSTP)
    assert seen == []  # the CONT, handled next, passes the terminal on and resumes the app


@pytest.mark.parametrize("terminal, stopsig", [(Terminal(None), signal.SIGTSTP), (FakeTerminal(APP), signal.SIGSTOP)],
                         ids=["no-terminal", "sigstop"])
def test_other_stops_are_not_followed(seen, terminal, stopsig):
    app_stopped(terminal, stopsig)
    assert seen == []
