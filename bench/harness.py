"""make bench's harness: the wrappers under test, how a process tree's CPU, memory and
written bytes are read, the namespaces and containers a run needs (bench/run.py says what runs)."""
from __future__ import annotations

import ctypes
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import struct
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
BUILT_IN = ("ours", "busybox", "busybox-wait", "floor", "app")  # "app": the image of the app alone


# ---- the wrappers -----------------------------------------------------------------------
class Wrapper:
    """A wrapper under test: ``layer`` is what its image layer holds, [(name in the image,
    host path)], None for a /tmp of mode 1777; ``argv(exe, app)`` its command line when the
    binary is at ``exe``; ``env`` what it finds in its environment besides PATH (a peer's
    configuration: every scenario gives it, `docker run -e` too). ``kind``: ours, variant (another
    build of ours), peer (another project's wrapper, --peer: compared, not checked against the
    targets) or alternative (the seed's busybox trick, the C floor)."""

    def __init__(self, name: str, binary: Path, layer: list, argv, env: dict | None = None,
                 kind: str = "alternative", label: str | None = None, words: list | None = None):
        self.name, self.binary, self.layer, self.argv = name, binary, layer, argv
        self.env, self.kind = dict(env or {}), kind
        self.label = label or LABELS.get(name, name)
        self.words = words  # a peer's command as given: [VAR=VALUE..., executable, args...]

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


ENV_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
PEER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # also a Docker tag's tail


def split_peers(text: str) -> list:
    """--peer's text -> [(name, env, executable, args)]. One peer is NAME=COMMAND; COMMAND is
    a shell-like word list (shlex): leading VAR=VALUE words are the peer's environment, then
    its executable (a path, or a name on PATH), then its arguments; the app's command line
    follows them. Several peers in one text are separated by an unquoted ``;``."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";")
    lexer.whitespace_split = True
    groups, words = [], []
    for word in lexer:
        if word and set(word) == {";"}:
            groups.append(words)
            words = []
        else:
            words.append(word)
    groups.append(words)
    found = []
    for words in (g for g in groups if g):
        name, equals, first = words[0].partition("=")
        if not equals or not PEER_NAME.fullmatch(name):
            raise ValueError(f"--peer {shlex.join(words)!r}: NAME=COMMAND, NAME of letters, digits, . _ -")
        words = [first, *words[1:]] if first else words[1:]
        env = {}
        while words and ENV_WORD.match(words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        if not words:
            raise ValueError(f"--peer {name}: no executable after its environment")
        found.append((name, env, words[0], words[1:]))
    return found


def elf_interpreter(path: Path) -> str | None:
    """The program interpreter (PT_INTERP) an ELF executable names: None for a static one.
    ValueError for what is not an ELF executable (a script)."""
    with open(path, "rb") as handle:
        head = handle.read(64)
        if head[:4] != b"\x7fELF":
            raise ValueError("not an ELF executable")
        wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
        phoff = struct.unpack_from(order + ("Q" if wide else "I"), head, 32 if wide else 28)[0]
        entsize, count = struct.unpack_from(order + "HH", head, 54 if wide else 42)
        for index in range(count):
            handle.seek(phoff + index * entsize)
            header = handle.read(entsize)
            if struct.unpack_from(order + "I", header, 0)[0] != 3:  # PT_INTERP
                continue
            word, at = ("Q", (8, 32)) if wide else ("I", (4, 16))  # p_offset, p_filesz
            offset, size = (struct.unpack_from(order + word, header, where)[0] for where in at)
            handle.seek(offset)
            return handle.read(size).rstrip(b"\0").decode(errors="replace")
    return None


def peer_wrappers(args) -> list:
    """--peer: other projects' wrappers, each with its environment and arguments."""
    found, taken = [], set(BUILT_IN) | {v.partition("=")[0] for v in args.variant}
    for text in args.peer:
        try:
            peers = split_peers(text)
        except ValueError as error:
            sys.exit(f"bench: {error}")
        for name, env, executable, peer_args in peers:
            if name in taken:
                sys.exit(f"bench: --peer {name}: the name is taken (built-in wrappers, variants, other peers)")
            taken.add(name)
            where = shutil.which(executable) if "/" not in executable else executable
            binary = Path(where or executable).resolve()
            if not os.access(binary, os.X_OK) or not binary.is_file():
                sys.exit(f"bench: --peer {name}: {executable} is missing or not executable")
            if "cpu100m" in args.scenarios:  # its image is FROM scratch: the binary alone
                try:
                    interpreter = elf_interpreter(binary)
                except (OSError, ValueError) as error:
                    sys.exit(f"bench: --peer {name}: {binary}: {error}; cpu100m needs a static binary "
                             "(or leave it out: --scenarios ...)")
                if interpreter:
                    sys.exit(f"bench: --peer {name}: {binary} is dynamically linked ({interpreter}); "
                             "cpu100m runs it FROM scratch: it needs a static binary (or leave cpu100m out)")
            image_name = binary.name if binary.name != "app" else f"{name}-bin"

            def argv(exe: str, app: list, peer_args=tuple(peer_args)) -> list:
                return [exe, *peer_args, *app]  # as `scuttle /app ...`: the app's argv follows
            words = [f"{k}={v}" for k, v in env.items()] + [str(binary), *peer_args]
            found.append(Wrapper(name, binary, [(image_name, binary)], argv, env=env, kind="peer",
                                 label=f"{name} (peer)", words=words))
            if name not in args.wrappers:
                args.wrappers.append(name)
    return found


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
    every = [Wrapper("ours", ours, [("sidecar-killer", ours)], sidecar_killer, kind="ours")]
    for variant in args.variant:  # other builds of ours, e.g. an earlier one
        name, _, path = variant.partition("=")
        binary = Path(path).resolve()
        # With a /tmp in its image: an older build may need one to extract itself.
        every.append(Wrapper(name, binary, [("sidecar-killer", binary), ("tmp/", None)], sidecar_killer,
                             kind="variant"))
        if name not in args.wrappers:
            args.wrappers.append(name)
    every += peer_wrappers(args)  # beside ours, before the alternatives
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


# ---- the fake sidecar ---------------------------------------------------------------------
class BenchSidecar(FakeSidecar):
    """tests/helpers/fake_sidecar.py's Istio sidecar, whose ready port also answers what a peer
    may poll instead of /healthz/ready: Envoy's admin ``GET /server_info`` (scuttle, with
    ENVOY_ADMIN_API), 200 with Envoy's JSON, ``"state": "INITIALIZING"`` until the moment
    /healthz/ready turns 200, then ``"LIVE"``: one readiness, told both ways. (In a pod that
    page is on Envoy's admin port, 15000; here the ready port stands in: a peer's
    ENVOY_ADMIN_API names http://127.0.0.1:15021.) ``not_ready``: when each not-ready answer
    went out (503, a state other than LIVE, or an unknown path), whichever way it was asked."""

    def __post_init__(self):
        super().__post_init__()
        self.not_ready = []

    def _answer(self, role: str, method: str, path: str, client: str):
        if role == "ready" and path == "/server_info" and method in ("GET", "HEAD"):
            uptime = time.monotonic() - self._started
            state = "LIVE" if uptime >= self.ready_after else "INITIALIZING"
            status, body = 200, json.dumps({
                "version": "bench-fake/1.0/Clean/RELEASE/BoringSSL", "state": state,
                "hot_restart_version": "disabled", "uptime_current_epoch": f"{int(uptime)}s",
                "uptime_all_epochs": f"{int(uptime)}s"}).encode()
            ready = state == "LIVE"
        else:
            status, body = super()._answer(role, method, path, client)
            ready = status == 200
        if role == "ready" and not ready and status is not None:
            with self._lock:
                self.not_ready.append(time.monotonic())
        return status, body


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


def tree_bytes(directory: Path, skip: tuple = ()) -> int:
    """Bytes of the files under ``directory``, leaving out the directories ``skip``."""
    skip = {Path(path).resolve() for path in skip}
    total = 0
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if Path(root, d) not in skip]
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


def sidecar_in(netns: str) -> BenchSidecar:
    """A ready BenchSidecar listening in the network namespace ``netns``: a thread enters it
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
            found["sidecar"] = BenchSidecar(ready_port=READY_PORT, quit_port=QUIT_PORT).start()
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

    def run(self, name: str, argv: list, env: dict | None = None) -> tuple:
        """docker run of image ``name``, with ``env`` (-e VAR=VALUE: a peer's) -> (wall time in ms, exit code)."""
        flags = [f"--env={key}={value}" for key, value in (env or {}).items()]
        with open(self.stderr_dir / f"{name}-cpu100m.txt", "wb") as output:
            started = time.monotonic()
            proc = subprocess.Popen(["docker", "run", "--rm", "--cpus", CPU_LIMIT, "--network",
                                     f"container:{self.HOLDER}", *flags, self.images[name], *argv],
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


