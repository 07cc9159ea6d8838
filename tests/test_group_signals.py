"""Signals sent to a whole process group, or typed at a terminal, reach the app exactly once;
job control stops and resumes the whole job, with a terminal and without."""
import fcntl
import os
import pty
import select
import shlex
import signal
import sys
import termios
import time

import pytest

from tests.helpers.process import REPO, sigecho, wait_until, wrapper_command

pytestmark = pytest.mark.builds("python", "binary", "emulated")

ROUNDS = 3


def received(w, name):
    return [line for line in list(w.stdout_lines) if line.startswith(name + " ")]


def settle_and_count(w, name, expected):
    wait_until(lambda: len(received(w, name)) >= expected, what=f"{expected} {name} at the app")
    time.sleep(0.3)  # a duplicate would arrive within this
    return len(received(w, name))


@pytest.mark.parametrize("name", ["SIGINT", "SIGHUP", "SIGUSR1"])
def test_a_signal_to_the_wrappers_group_reaches_the_app_once(wrappers, name):
    signum = getattr(signal, name)
    w = wrappers(["--disabled", "--", *sigecho("--exit-on", "SIGKILL")], process_group=0)
    w.app_pid()
    for sent in range(1, ROUNDS + 1):
        os.killpg(w.pid, signum)
        assert settle_and_count(w, name, sent) == sent


def start_on_a_terminal(wrappers, command):
    """The wrapper as a session leader whose controlling terminal is a new pty (as in a shell or
    `docker run -t`); returns (wrapper, master fd)."""
    master, slave = pty.openpty()

    def take_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    w = wrappers(["--disabled", "--", *command], stdin=slave, start_new_session=True, preexec_fn=take_terminal)
    os.close(slave)
    return w, master


def test_ctrl_c_at_a_terminal_reaches_the_app_once(wrappers):
    w, master = start_on_a_terminal(wrappers, sigecho("--exit-on", "SIGKILL"))
    try:
        app = w.app_pid()
        wait_until(lambda: os.tcgetpgrp(master) == app, what="the app in the terminal's foreground")
        for sent in range(1, ROUNDS + 1):
            os.write(master, b"\x03")  # Ctrl-C: SIGINT to the terminal's foreground group
            assert settle_and_count(w, "SIGINT", sent) == sent
        os.kill(app, signal.SIGKILL)
        assert w.wait() == 137
    finally:
        os.close(master)


def state(pid):
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_ctrl_z_at_a_terminal_stops_the_job_and_cont_resumes_it(wrappers):
    sleeper = [sys.executable, "-c", "import os, time; print('ready', os.getpid(), flush=True); time.sleep(60)"]
    w, master = start_on_a_terminal(wrappers, sleeper)
    try:
        app = int(w.wait_for_line(lambda line: line.startswith("ready ")).split()[1])
        wait_until(lambda: os.tcgetpgrp(master) == app, what="the app in the terminal's foreground")
        os.write(master, b"\x1a")  # Ctrl-Z: SIGTSTP to the foreground group
        wait_until(lambda: state(app) == "T", what="the app stopped")
        wait_until(lambda: state(w.pid) == "T", what="the wrapper stopped with it")
        os.kill(w.pid, signal.SIGCONT)  # what `fg` sends the job
        wait_until(lambda: state(app) != "T" and state(w.pid) != "T", what="both resumed")
        wait_until(lambda: os.tcgetpgrp(master) == app, what="the terminal back with the app")
        os.kill(app, signal.SIGTERM)
        assert w.wait() == 128 + signal.SIGTERM
    finally:
        os.close(master)


class Shell:
    """An interactive bash on a new pty, as a user's terminal: type into it, read what it shows."""

    def __init__(self):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ.update(PS1="PROMPT$ ", PYTHONPATH=str(REPO), TERM="dumb")
            os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
        self.out = b""

    def read(self, seconds: float):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    self.out += os.read(self.fd, 4096)
                except OSError:
                    return

    def type(self, text: str, then: float = 0.3):
        os.write(self.fd, text.encode())
        self.read(then)

    def wait_for(self, needle: str, timeout: float = 10):
        wait_until(lambda: self.read(0.05) or needle in self.out.decode(errors="replace"), timeout,
                   what=f"{needle!r} on the terminal; got {self.out[-400:]!r}")

    def close(self):
        for sig in (signal.SIGHUP, signal.SIGKILL):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def shell():
    made = Shell()
    made.read(0.5)
    yield made
    made.close()


def wrapper_line(*args: str) -> str:
    return " ".join(shlex.quote(word) for word in wrapper_command() + list(args))


def test_ctrl_z_then_bg_leaves_the_terminal_to_the_shell(shell):
    shell.type(wrapper_line("--disabled", "--", "sleep", "3") + "\n")
    shell.wait_for("app started")
    shell.type("\x1a")
    shell.wait_for("Stopped")
    shell.type("bg\n")
    shell.type("echo shell-$((40+2))\n")
    shell.wait_for("shell-42")  # the shell still reads its terminal
    shell.wait_for("app exited with code 0")
    assert os.waitpid(shell.pid, os.WNOHANG) == (0, 0), "the shell lost its terminal and exited"


@pytest.mark.parametrize("settled", [True, False], ids=["fg-once-started", "fg-at-once"])
def test_started_in_the_background_then_fg_reads_the_terminal(shell, settled):
    """fg at once races the app's stop on reading the terminal from the background: whichever
    the wrapper sees first, the job ends in the foreground, reading."""
    shell.type(wrapper_line("--disabled", "--", "cat") + " &\n", then=0.0)
    if settled:
        shell.wait_for("app started")
    shell.type("fg\n", then=0.0)
    shell.wait_for("app started", timeout=20)
    shell.read(1.0)  # bash hands the terminal over; what is typed before that, bash reads itself
    shell.type("typed-line\n")
    shell.wait_for("typed-line\r\ntyped-line")  # echoed by the terminal, then written by cat
    shell.type("\x04")
    shell.wait_for("app exited with code 0")
