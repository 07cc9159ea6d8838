"""Shared by the process tests of the lifecycle: the fake sidecar's URLs as flags, the free
ports, the supervising process's pid, runs in a private network namespace."""
import os
import shutil
import signal
import socket
import sys
import time

from tests.helpers.process import REPO, wait_until, wrapper_command

SH = shutil.which("sh")
NETNS = shutil.which("unshare") and os.geteuid() == 0


def urls(fake, *extra):
    return ["--ready-url", fake.ready_url, "--quit-url", fake.quit_url, *extra]


def quit_after_exit(fake, wrapper_exit_time):
    """Exactly one quit, and it came after the app had exited."""
    assert len(fake.quits) == 1, fake.requests
    assert fake.quits[0].at <= wrapper_exit_time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrapper_python_pid(w):
    """The supervising process: the parent of the app (the frozen chain has layers above it)."""
    line = w.wait_for_line(lambda x: "app started" in x, stream="stderr")
    app = int(line.rsplit("(pid ", 1)[1].rstrip(")"))
    with open(f"/proc/{app}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def in_netns(sidecar_args, wrapper_args):
    """A shell script that runs the fake sidecar and the wrapper inside `unshare -n` with
    loopback up; the sidecar's JSON lines go to $SIDECAR_LOG."""
    fake = [sys.executable, str(REPO / "tests/helpers/fake_sidecar.py"), *sidecar_args]
    wrapper = wrapper_command() + wrapper_args
    return ("ip link set lo up && { " + " ".join(map(_quote, fake)) + " > \"$SIDECAR_LOG\" & } && "
            + " ".join(map(_quote, wrapper)) + "; code=$?; wait; exit $code")


def _quote(word):
    return "'" + word.replace("'", "'\\''") + "'"

def send_and_see(w, name, timeout=5):
    """Send signal ``name`` to the wrapper; return the delay until the app printed it."""
    before = len([line for line in w.stdout_lines if line.startswith(name + " ")])
    sent = time.monotonic()
    os.kill(w.pid, getattr(signal, name))
    line = wait_until(lambda: [x for x in list(w.stdout_lines) if x.startswith(name + " ")][before:],
                      timeout, what=f"{name} at the app")[0]
    return float(line.split()[1]) - sent
