"""make bench's harness: the wrappers under test, how a process tree's CPU, memory and
written bytes are read, the namespaces and containers a run needs (bench/run.py says what runs)."""
from __future__ import annotations

import ctypes
import hashlib
import io
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
from tests.helpers.fake_sidecar import FakeSidecar  # noqa: E402

READY_PORT, QUIT_PORT = 15021, 15020
READY_AFTER = 0.5           # ready 0.5 s after the proxy starts listening
START_SPREAD = 0.3          # wrapper starts 0..0.3 s after the proxy: a random probe phase
FLOOD_WAIT = 2.0            # the proxy answers 503 this long in the flood scenario
CPU_LIMIT = "0.1"           # docker run --cpus: a 100m CPU limit
MiB, MB = 1024 * 1024, 1000 * 1000
SEED_QUIT = "wget -q --post-data= -O /dev/null http://127.0.0.1:15020/quitquitquit"
SEED_WAIT = "until wget -q -O /dev/null http://127.0.0.1:15021/healthz/ready; do sleep 1; done"
LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET, PR_SET_CHILD_SUBREAPER = 0x40000000, 36

LABELS = {"ours": "ours (sidecar-killer)", "before": "before: an earlier build",
          "busybox": "busybox (seed)", "busybox-wait": "busybox + wait loop", "floor": "floor (C)"}


# ---- the wrappers -----------------------------------------------------------------------
class Wrapper:
    """A wrapper under test: ``layer`` is what its image layer holds, [(name in the image,
    host path)], None for a /tmp of mode 1777; ``argv(exe, app)`` its command line when the
    binary is at ``exe``."""

    def __init__(self, name: str, binary: Path, layer: list, argv):
        self.name, self.label, self.binary, self.layer, self.argv = name, LABELS.get(name, name), binary, layer, argv

    def command(self, app: list) -> list:
        return self.argv(str(self.binary), app)

    def container_command(self, app: list) -> list:
        return self.argv("/" + self.layer[0][0], app)

    def snapshot(self, directory: Path):
        """Copy the binary to ``directory``: what is measured cannot change under the run."""
        directory.mkdir(parents=True, exist_ok=True)
        copy = directory / self.layer[0][0]
        shutil.copy2(self.binary, copy)
        self.binary = copy
        self.layer = [(self.layer[0][0], copy), *self.layer[1:]]
        self.sha256 = hashlib.sha256(copy.read_bytes()).hexdigest()


def wrappers(args) -> list:
    busybox = Path(shutil.which("busybox") or "/bin/busybox")

    def sidecar_killer(exe: str, app: list) -> list:
        return [exe, "--", *app]

    def seed(wait: bool):
        def argv(exe: str, app: list) -> list:
            script = f"{shlex.join(app)}; x=$?; {SEED_QUIT}; exit $x"
            return [exe, "sh", "-c", f"{SEED_WAIT}; {script}" if wait else script]
        return argv

    ours = Path(args.ours).resolve()
    every = [Wrapper("ours", ours, [("sidecar-killer", ours)], sidecar_killer)]
    for variant in args.variant:  # other builds of ours, e.g. an earlier one
        name, _, path = variant.partition("=")
        binary = Path(path).resolve()
        # With a /tmp in its image: an older build may need one to extract itself.
        every.append(Wrapper(name, binary, [("sidecar-killer", binary), ("tmp/", None)], sidecar_killer))
        if name not in args.wrappers:
            args.wrappers.append(name)
    floor = BENCH / "build" / "floor"
    every += [
        Wrapper("busybox", busybox, [("busybox", busybox)], seed(False)),
        Wrapper("busybox-wait", busybox, [("busybox", busybox)], seed(True)),
        Wrapper("floor", floor, [("floor", floor)], lambda exe, app: [exe, *app]),
    ]
    chosen = [w for w in every if w.name in args.wrappers]
    for wrapper in chosen:
        if not os.access(wrapper.binary, os.X_OK):
            sys.exit(f"bench: {wrapper.name}: {wrapper.binary} is missing or not executable (make build / make bench)")
    return chosen


# ---- processes --------------------------------------------------------------------------
def children() -> dict:
    """{pid: parent pid} of every process, from /proc."""
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    found[int(entry.name)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return found


def tree(root: int, parents: dict, skip: int | None = None) -> list:
    """``root`` and its descendants, leaving out ``skip`` and its descendants."""
    result, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid == skip:
            continue
        result.append(pid)
        todo += [child for child, parent in parents.items() if parent == pid]
    return result


def memory(pids: list) -> tuple:
    """Summed Rss and Pss of ``pids`` in bytes (smaps_rollup)."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                next(rollup)  # the address-range header line
                fields = dict(line.split(":", 1) for line in rollup)
        except OSError:
            continue
        rss += int(fields["Rss"].split()[0]) * 1024
        pss += int(fields["Pss"].split()[0]) * 1024
    return rss, pss


def tree_bytes(directory: Path, skip: Path | None = None) -> int:
    """Bytes of the files under ``directory``, leaving out ``skip``."""
    total = 0
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if skip is None or Path(root, d) != skip]
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def reap_orphans():
    """We are a child subreaper: collect apps a wrapper left behind."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def become_subreaper():
    LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


class Stamp:
    """The app's start stamp file: "PID MONOTONIC" once the app runs."""

    def __init__(self, directory: Path):
        self.path = directory / "app-started"
        self.path.unlink(missing_ok=True)

    def read(self):
        try:
            pid, at = self.path.read_text().split()
            return int(pid), float(at)
        except (OSError, ValueError):
            return None

    def wait(self, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.read()
            if found:
                return found
            time.sleep(0.002)
        return None


def finish(proc, timeout: float = 20.0) -> tuple:
    """Wait for ``proc``'s exit with wait4 -> (exit code, its rusage: its own CPU time and that
    of every descendant it waited for). Blocking: Popen.wait(timeout) polls with sleeps of up
    to 50 ms, which would add to the timings. A watchdog kills a hung tree instead."""
    def kill():
        for pid in tree(proc.pid, children()):
            os.kill(pid, signal.SIGKILL)
    watchdog = threading.Timer(timeout, kill)
    watchdog.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        watchdog.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage


# ---- the CPU-limited containers ---------------------------------------------------------
def layer_tar(members: list) -> bytes:
    """A tar of ``members`` [(name, host path or None for a /tmp of mode 1777)], as an image layer."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in members:
            if path is None:
                info = tarfile.TarInfo(name.rstrip("/"))
                info.type, info.mode = tarfile.DIRTYPE, 0o1777
                tar.addfile(info)
            else:
                info = tar.gettarinfo(str(path), arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
    return buffer.getvalue()


def sidecar_in(netns: str) -> FakeSidecar:
    """A ready FakeSidecar listening in the network namespace ``netns``: a thread enters it
    (setns moves only the calling thread, and the threads it starts) and opens the ports there."""
    found = {}

    def start():
        try:
            fd = os.open(netns, os.O_RDONLY)
            try:
                if LIBC.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {netns}")
            finally:
                os.close(fd)
            found["sidecar"] = FakeSidecar(ready_port=READY_PORT, quit_port=QUIT_PORT).start()
        except Exception as error:  # noqa: BLE001 (re-raised in the caller's thread)
            found["error"] = error
    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    if "error" in found:
        raise found["error"]
    return found["sidecar"]


class Containers:
    """`docker run --cpus 0.1` of FROM scratch images: each wrapper with the app, and the app
    alone. They join the network namespace of a holder container (the app, sleeping), where
    a fake sidecar listens, ready: as a pod's containers share the sidecar's namespace. The
    sidecar runs in this process, outside the CPU limit, as istio-proxy runs in its own."""
    HOLDER = "sk-bench-netns"

    def __init__(self, chosen: list, app: Path, stderr_dir: Path):
        if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
            sys.exit("bench: cpu100m needs a Docker engine (make engine), or leave it out: --scenarios ...")
        self.stderr_dir = stderr_dir
        self.images = {}
        for name, members in [("app", []), *((w.name, w.layer) for w in chosen)]:
            tag = f"sidecar-killer:bench-{name}"
            subprocess.run(["docker", "import", "-", tag], input=layer_tar([*members, ("app", app)]),
                           capture_output=True, check=True)
            self.images[name] = tag
        subprocess.run(["docker", "rm", "-f", self.HOLDER], capture_output=True)
        subprocess.run(["docker", "run", "-d", "--rm", "--network", "none", "--name", self.HOLDER,
                        self.images["app"], "/app", "-s", "86400000"], capture_output=True, check=True)
        pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", self.HOLDER],
                             capture_output=True, text=True, check=True).stdout.strip()
        self.sidecar = sidecar_in(f"/proc/{pid}/ns/net")

    def run(self, name: str, argv: list) -> tuple:
        """docker run of image ``name`` -> (wall time in ms, exit code)."""
        with open(self.stderr_dir / f"{name}-cpu100m.txt", "wb") as output:
            started = time.monotonic()
            proc = subprocess.Popen(["docker", "run", "--rm", "--cpus", CPU_LIMIT, "--network",
                                     f"container:{self.HOLDER}", self.images[name], *argv],
                                    stdin=subprocess.DEVNULL, stdout=output, stderr=output)
            code, _ = finish(proc, timeout=120)
        return (time.monotonic() - started) * 1000, code

    def close(self):
        self.sidecar.close()
        subprocess.run(["docker", "rm", "-f", self.HOLDER], capture_output=True)
        subprocess.run(["docker", "rmi", *self.images.values()], capture_output=True)


# ---- main -----------------------------------------------------------------------------------
def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_for_quiet(limit: float, patience: float):
    deadline = time.monotonic() + patience
    while float(loadavg().split()[0]) >= limit and time.monotonic() < deadline:
        print(f"bench: load {loadavg()}: waiting for < {limit}", file=sys.stderr, flush=True)
        time.sleep(15)


def enter_namespace(argv: list, script: str):
    """Re-run ``script`` (the bench's main) in private network and mount namespaces, loopback up."""
    if os.environ.get("SK_BENCH_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if os.geteuid() != 0:
        sys.exit("bench: needs root (unshare -n for the fixed ports 15020/15021, -m for a private /tmp)")
    os.environ["SK_BENCH_NETNS"] = "1"
    os.execvp("unshare", ["unshare", "-n", "-m", "--propagation", "private", "--", sys.executable,
                          str(Path(script).resolve()), *argv])


def private_tmp(keep: tuple = ()):
    """A fresh tmpfs on /tmp that only this mount namespace sees: what appears there is the
    wrappers' (the host's /tmp, which other programs write to, is not counted). Directories of
    ``keep`` that lie under /tmp (a checkout there, the output) stay visible, bound back in."""
    held = []
    for index, path in enumerate(p for p in keep if Path(p).resolve().is_relative_to("/tmp")):
        hold = Path(f"/run/sk-bench-keep-{index}")
        hold.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(path), str(hold)], check=True)
        held.append((hold, Path(path).resolve()))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777,size=256m", "sk-bench-tmp", "/tmp"], check=True)
    for hold, path in held:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(hold), str(path)], check=True)


def git_head() -> str:
    found = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return found.stdout.strip() or "?"


