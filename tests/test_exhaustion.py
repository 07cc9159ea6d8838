"""When the pod runs out of something (process slots, threads, address space, descriptors, a
resolver that never answers), the app's code is kept, the proxy is still quit, every wait is
bounded, and one line says what ran out. Runs against `python -m entrypoint` or SK_TEST_BIN, as
root (limits are lowered on the running wrapper; RLIMIT_NPROC binds only a user that is not root)."""
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers.lifecycle import urls, wrapper_python_pid
from tests.helpers.process import Wrapper, clean_environ, descendants_of, slow, wrapper_command

pytestmark = pytest.mark.builds("python", "binary")  # not emulated: qemu-user's own threads and limits are not the binary's

NOBODY = 65534
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT and not os.environ.get("CI"), reason="lowers limits of other users")


def waiting_app(go: Path, python: str = sys.executable) -> list:
    """An app that starts nothing (no thread, no child) and exits 3 once ``go`` exists (or after
    a minute, should the test have failed before it made ``go``)."""
    script = (f"import os, time\nend = time.monotonic() + 60\n"
              f"while not os.path.exists({str(go)!r}) and time.monotonic() < end: time.sleep(0.01)\n"
              "raise SystemExit(3)")
    return [python, "-c", script]


def runnable_by_nobody() -> tuple:
    """(the wrapper's command, a Python) that a user other than root may run: the binary, or
    the system's Python 3 (a venv or pyenv under /root is out of its reach)."""
    if os.environ.get("SK_TEST_BIN"):
        return wrapper_command(), "/usr/bin/python3"
    return ["/usr/bin/python3", "-m", "entrypoint"], "/usr/bin/python3"


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def vm_size_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("VmSize:")).split()[1])


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def finish(w, go: Path, timeout: float = 20) -> int:
    go.touch()
    try:
        return w.wait(timeout)
    finally:
        w.kill_tree()


class PidsCgroup:
    """A pids cgroup of our own (v2, or v1's pids hierarchy): the pod's pid limit."""

    def __init__(self, name: str):
        for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/pids")):
            if (root / "cgroup.procs").exists() and (
                    (root / "pids.max").exists() or "pids" in _read(root / "cgroup.controllers").split()
                    or root.name == "pids"):
                self.path = root / name
                break
        else:
            pytest.fail("no pids cgroup controller on this machine")
        self.path.mkdir()

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def fill(self) -> int:
        """Set pids.max to what is there now: no new process or thread can start."""
        current = int((self.path / "pids.current").read_text())
        (self.path / "pids.max").write_text(str(current))
        return current

    def remove(self) -> None:
        for pid in _read(self.path / "cgroup.procs").split():
            try:
                (self.path.parent / "cgroup.procs").write_text(pid)
            except OSError:
                pass
        self.path.rmdir()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


@needs_root
def test_the_pods_pid_limit_full_when_the_app_exits(sidecar, tmp_path):
    """pids.max reached (the app leaked workers): the quit goes out from this thread."""
    fake = sidecar()
    go = tmp_path / "go"
    cgroup = PidsCgroup(f"sidecar-killer-test-{os.getpid()}")
    try:
        w = Wrapper(urls(fake, "--", *waiting_app(go)))
        try:
            cgroup.add(w.pid)
            supervisor = wrapper_python_pid(w)
            assert cgroup.fill() >= 1
        except BaseException:
            w.kill_tree()
            raise
        code = finish(w, go)
    finally:
        cgroup.remove()
    assert code == 3, w.stderr
    assert len(fake.quits) == 1, w.stderr
    assert "internal error" not in w.stderr
    assert supervisor == w.pid


@needs_root
@pytest.mark.parametrize("limit", ["nproc", "as", "nofile"])
def test_a_limit_lowered_while_the_app_runs(sidecar, tmp_path, limit):
    """RLIMIT_NPROC at what runs now (no thread or process more), RLIMIT_AS half a MiB above the
    wrapper's address space (no thread stack fits), RLIMIT_NOFILE at the descriptors open now:
    the code is kept and the quit still sent."""
    fake = sidecar()
    go = tmp_path / "go"
    if limit == "nproc":  # binds only a user that is not root
        command, python = runnable_by_nobody()
        go = Path(tempfile.mkdtemp(prefix="sidecar-killer-test-")) / "go"  # where nobody can look
        go.parent.chmod(0o755)
        w = Wrapper(urls(fake, "--", *waiting_app(go, python)), preexec_fn=as_nobody, command=command)
    else:
        w = Wrapper(urls(fake, "--", *waiting_app(go)))
    try:
        pid = wrapper_python_pid(w)
        value = {"nproc": 1, "as": (vm_size_kib(pid) + 512) * 1024, "nofile": open_fds(pid)}[limit]
        # As the wrapper's own user: root here may lack CAP_SYS_RESOURCE for another user's process.
        subprocess.run(["prlimit", f"--pid={pid}", f"--{limit}={value}"], check=True,
                       preexec_fn=as_nobody if limit == "nproc" else None)
    except BaseException:
        w.kill_tree()
        raise
    code = finish(w, go)
    assert code == 3, w.stderr
    assert len(fake.quits) == 1, w.stderr
    assert "internal error" not in w.stderr


@needs_root
def test_no_process_slot_for_the_app_is_71_and_the_proxy_is_quit(sidecar):
    """The pod's pid limit is full before the app starts: posix_spawn fails with EAGAIN. EX_OSERR,
    a line that names the limit, the proxy quit."""
    fake = sidecar(ready_after=0.5)
    cgroup = PidsCgroup(f"sidecar-killer-test-{os.getpid()}")
    try:
        w = Wrapper(urls(fake, "--", "/bin/true"))
        cgroup.add(w.pid)
        cgroup.fill()
        code = w.wait(20)
    finally:
        w.kill_tree()
        cgroup.remove()
    assert code == 71, w.stderr
    assert "EAGAIN" in w.stderr and "pids.max" in w.stderr
    assert len(fake.quits) == 1


BLACK_HOLE_DNS = """
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("listening", flush=True)
time.sleep(120)
"""


@needs_root
def test_a_resolver_that_black_holes_costs_one_thread_and_the_deadline(tmp_path):
    """A host-name ready URL and a resolver that never answers (its own /etc/resolv.conf in a
    mount namespace, a UDP socket that never reads in a network namespace): the wait ends at
    --ready-timeout with 69, and never more than one lookup thread runs."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:30 attempts:5\n")
    wrapper = " ".join(shlex.quote(word) for word in wrapper_command() + [
        "--ready-url", "http://proxy.example.test:15021/healthz/ready", "--ready-timeout", "3", "--", "true"])
    script = (f"ip link set lo up && mount --bind {shlex.quote(str(resolv))} /etc/resolv.conf && "
              f"{{ {shlex.quote(sys.executable)} -c {shlex.quote(BLACK_HOLE_DNS)} >/dev/null 2>&1 & }} && sleep 0.3 && exec {wrapper}")
    env = dict(clean_environ(), PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    started = time.monotonic()
    proc = subprocess.Popen(["unshare", "-n", "-m", "sh", "-c", script], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    try:
        while proc.poll() is None and time.monotonic() - started < slow(1) + 15:
            for pid in [proc.pid] + descendants_of(proc.pid):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                        if b"proxy.example.test" in cmdline.read():
                            peak = max(peak, threads_of(pid))
                except OSError:
                    pass
            time.sleep(0.05)
        out, err = proc.communicate(timeout=5)
    finally:
        for pid in descendants_of(proc.pid) + [proc.pid]:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    took = time.monotonic() - started
    assert proc.returncode == 69, err
    assert 3 <= took < slow(1) + 5, err
    assert 1 <= peak <= 2, f"threads at peak: {peak}"
    assert "proxy not ready after 3" in err or "no answer" in err or "nothing listens" in err, err
