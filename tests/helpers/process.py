"""Running the wrapper under test: `python -m entrypoint`, or the frozen binary.

SK_TEST_BIN=/path/to/sidecar-killer runs every process test against that executable.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HELPERS = Path(__file__).resolve().parent
REPO = HELPERS.parent.parent

# A binary of another architecture runs under emulation (qemu-user), which starts it about ten
# times slower: `make test` sets SK_TEST_TIME_SCALE for that run (tests/helpers/emulation.py).
# Timing assertions that include the wrapper's own start, and waits that must outlast it, use
# slow(); nothing else changes.
TIME_SCALE = float(os.environ.get("SK_TEST_TIME_SCALE") or 1)


def slow(seconds: float) -> float:
    """``seconds`` as long as the wrapper under test takes to start (scaled under emulation)."""
    return seconds * TIME_SCALE


# Variables the wrapper reads (ours, scuttle's, linkerd-await's): a developer's own shell may set
# them, and no test is to depend on that.
READ_BY_THE_WRAPPER = ("SIDECAR_KILLER_", "ENVOY_", "ISTIO_", "LINKERD_", "SCUTTLE_", "START_WITHOUT_ENVOY",
                       "WAIT_FOR_ENVOY_TIMEOUT", "QUIT_WITHOUT_ENVOY_TIMEOUT", "QUIT_REQUEST_TIMEOUT",
                       "GENERIC_QUIT_", "NEVER_KILL_ISTIO")


def clean_environ() -> dict:
    """This process's environment without anything the wrapper would read as an option."""
    return {name: value for name, value in os.environ.items() if not name.startswith(READ_BY_THE_WRAPPER)}


def wrapper_command() -> list:
    binary = os.environ.get("SK_TEST_BIN")
    if binary:
        return [str(Path(binary).resolve())]
    return [sys.executable, "-m", "entrypoint"]


def sigecho(*args: str) -> list:
    return [sys.executable, str(HELPERS / "sigecho.py"), *args]


def wait_until(condition, timeout: float = 10.0, interval: float = 0.005, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def children_of(pid: int) -> list:
    """Direct children of ``pid`` as (pid, state) pairs, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append((int(entry.name), fields[0]))
    return found


def descendants_of(pid: int) -> list:
    result, todo = [], [pid]
    while todo:
        for child, _state in children_of(todo.pop()):
            result.append(child)
            todo.append(child)
    return result


class Wrapper:
    """The wrapper running as a child of the test; stdout and stderr collected line by line."""

    def __init__(self, args: list, env: dict | None = None, extra_env: dict | None = None,
                 command: list | None = None, **popen):
        full_env = clean_environ() if env is None else dict(env)
        full_env.update(extra_env or {})
        full_env.setdefault("PYTHONPATH", str(REPO))
        self.started = time.monotonic()
        self.proc = subprocess.Popen((command or wrapper_command()) + list(args), env=full_env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=popen.pop("stdin", subprocess.DEVNULL), **popen)
        self.pid = self.proc.pid
        self.stdout_lines: list = []
        self.stderr_lines: list = []
        self._readers = [self._collect(self.proc.stdout, self.stdout_lines),
                         self._collect(self.proc.stderr, self.stderr_lines)]
        self.peak_rss_kib = 0
        threading.Thread(target=self._sample_peak_rss, daemon=True).start()

    def _sample_peak_rss(self):
        """The wrapper's VmHWM (its own peak RSS since exec) until it exits. Not wait4's
        ru_maxrss: Linux counts the forking test process's memory there too."""
        while self.proc.returncode is None:
            try:
                with open(f"/proc/{self.pid}/status") as status:
                    line = next(line for line in status if line.startswith("VmHWM:"))
            except (OSError, StopIteration):
                return  # gone, or a zombie (no memory left to read)
            self.peak_rss_kib = max(self.peak_rss_kib, int(line.split()[1]))
            time.sleep(0.005)

    @staticmethod
    def _collect(stream, lines: list) -> threading.Thread:
        from tests.helpers.emulation import emulated, emulator_noise
        noise = emulator_noise if emulated() else (lambda line: False)

        def read():
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace").rstrip("\n")
                if not noise(line):
                    lines.append(line)
        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        return thread

    @property
    def stdout(self) -> str:
        return "\n".join(self.stdout_lines)

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)

    def wait_for_line(self, predicate, timeout: float = 10.0, stream: str = "stdout") -> str:
        lines = self.stdout_lines if stream == "stdout" else self.stderr_lines

        def found():
            return next((line for line in list(lines) if predicate(line)), None)
        return wait_until(found, timeout, what=f"a matching line on {stream}; got {lines!r}")

    def wait(self, timeout: float = 30.0) -> int:
        """The exit code, as Popen gives it."""
        deadline = time.monotonic() + timeout
        while self.proc.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                self.ended = time.monotonic()
            elif time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.proc.args, timeout)
            else:
                time.sleep(0.002)
        for reader in self._readers:
            reader.join(5)
        return self.proc.returncode

    def app_pid(self) -> int:
        """The pid of a sigecho app, from its "ready <pid>" line."""
        return int(self.wait_for_line(lambda line: line.startswith("ready ")).split()[1])

    def kill_tree(self):
        for pid in descendants_of(self.pid) + [self.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


def run(args: list, timeout: float = 60.0, kill_when=None, kill_with=signal.SIGTERM, **kwargs) -> Wrapper:
    """Run the wrapper to completion; returns it with .returncode set. ``kill_when(wrapper)``:
    send ``kill_with`` once it is true (``killed_at``: wall clock, ``killed_mono``: monotonic)."""
    wrapper = Wrapper(args, **kwargs)
    try:
        if kill_when is not None:
            wait_until(lambda: kill_when(wrapper), timeout, what="the moment to signal the wrapper")
            wrapper.killed_at, wrapper.killed_mono = time.time(), time.monotonic()
            os.kill(wrapper.pid, kill_with)
        wrapper.returncode = wrapper.wait(timeout)
    finally:
        wrapper.kill_tree()
    return wrapper
