"""make bench's scenarios: what one round measures of one wrapper (bench/run.py lists them)."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from harness import (BENCH, REPO, BenchSidecar, Containers, FLOOD_WAIT, QUIT_PORT, READY_AFTER,
    READY_PORT, START_SPREAD, Stamp, Wrapper, children, finish, memory, reap_orphans, tree,
    tree_bytes)


# ---- the scenarios ----------------------------------------------------------------------
class Bench:
    def __init__(self, args, work: Path, containers: Containers | None):
        self.args = args
        self.work = work
        self.containers = containers
        self.app = str(BENCH / "build" / "app")
        self.stderr_dir = Path(args.out) / "stderr"
        self.stderr_dir.mkdir(parents=True, exist_ok=True)
        self.ready_sidecar = None  # the proxy, already ready, of the scenarios but latency and flood

    def measure(self, wrapper: Wrapper, scenarios: list) -> dict:
        """One round of ``scenarios`` for ``wrapper``: {figure: value}."""
        found = {}
        if "latency" in scenarios:  # latency and flood bring their own, not ready at first
            found.update(self.latency(wrapper))
        if "flood" in scenarios:
            found.update(self.flood(wrapper))
        with BenchSidecar(ready_port=READY_PORT, quit_port=QUIT_PORT) as self.ready_sidecar:
            for scenario in scenarios:
                if scenario not in ("latency", "flood"):
                    found.update(getattr(self, scenario)(wrapper))
        return found

    def start(self, wrapper: Wrapper, app_args: list, scenario: str, env_extra: dict | None = None,
              prefix: tuple = (), cwd: Path | None = None):
        env = {"PATH": os.environ.get("PATH", os.defpath)}
        env.update(wrapper.env)  # a peer's configuration, in every scenario
        env.update(env_extra or {})  # the scenario's own ($TMPDIR of run) wins
        stderr = open(self.stderr_dir / f"{wrapper.name}-{scenario}.txt", "wb")
        started = time.monotonic()
        proc = subprocess.Popen([*prefix, *wrapper.command([self.app, *app_args])], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr, cwd=cwd)
        stderr.close()
        return proc, started

    def job(self, wrapper: Wrapper) -> dict:
        seen = len(self.ready_sidecar.requests)
        proc, started = self.start(wrapper, ["0"], "job")
        code, usage = finish(proc)
        took = (time.monotonic() - started) * 1000
        # Where the time goes: first request to the proxy, last request (the quit), exit.
        requests = [(r.at - started) * 1000 for r in self.ready_sidecar.requests[seen:]]
        return {"job_ms": took, "job_exit": code, "cpu_ms": cpu_ms(usage),
                "job_first_request_ms": min(requests, default=None),
                "job_last_request_ms": max(requests, default=None), "job_requests": len(requests)}

    def latency(self, wrapper: Wrapper) -> dict:
        ready_at, started, sidecar, code, app = self.wait_run(wrapper, READY_AFTER, START_SPREAD, "latency")
        return {"latency_ms": (app[1] - ready_at) * 1000 if app else None, "latency_exit": code}

    def flood(self, wrapper: Wrapper) -> dict:
        ready_at, started, sidecar, code, app = self.wait_run(wrapper, FLOOD_WAIT, 0.0, "flood")
        # Not-ready answers: 503 to /healthz/ready, or /server_info's state other than LIVE.
        answered = sorted(sidecar.not_ready)
        if len(answered) >= 2:  # the wrapper's polling rate while the proxy said "not ready"
            rate = (len(answered) - 1) / (answered[-1] - answered[0])
        else:
            rate = len(answered) / (ready_at - started)
        return {"non200_per_s": rate, "non200_count": len(answered)}

    def wait_run(self, wrapper: Wrapper, ready_after: float, spread: float, scenario: str):
        """A proxy that listens now and turns ready ``ready_after`` s later; the wrapper starts
        0..``spread`` s after it; runs the app to its end. -> (ready moment, wrapper start,
        sidecar, exit code, (app pid, app start))"""
        stamp = Stamp(self.work)
        listening = time.monotonic()
        sidecar = BenchSidecar(ready_port=READY_PORT, quit_port=QUIT_PORT, ready_after=ready_after).start()
        try:
            time.sleep(max(listening + random.uniform(0, spread) - time.monotonic(), 0))
            proc, started = self.start(wrapper, ["-t", str(stamp.path), "0"], scenario)
            code, _ = finish(proc)
        finally:
            sidecar.close()
        return listening + ready_after, started, sidecar, code, stamp.read()

    def written(self, tmpdir: Path, cwd: Path) -> int:
        """Bytes under the wrapper's $TMPDIR and working directory, and under /tmp (a tmpfs of
        this mount namespace) besides our own work directory and what the run binds back there
        (--out, the checkout: the wrappers' stderr files are written under --out)."""
        ours = (self.work, Path(self.args.out), REPO)
        return tree_bytes(tmpdir) + tree_bytes(cwd) + tree_bytes(Path("/tmp"), skip=ours)

    def run(self, wrapper: Wrapper) -> dict:
        stamp = Stamp(self.work)
        tmpdir = Path(tempfile.mkdtemp(prefix="tmpdir-", dir=self.work))
        cwd = Path(tempfile.mkdtemp(prefix="cwd-", dir=self.work))
        already = self.written(tmpdir, cwd)  # what an earlier wrapper left in /tmp
        proc, _ = self.start(wrapper, ["-t", str(stamp.path), "-s", "700", "0"], "run", {"TMPDIR": str(tmpdir)},
                             cwd=cwd)
        app = stamp.wait(10)
        rss = pss = written = processes = 0
        if app:
            for at in (0.15, 0.3, 0.45):  # the chain has settled into waiting for the app
                time.sleep(max(app[1] + at - time.monotonic(), 0))
                pids = tree(proc.pid, children(), skip=app[0])
                r, p = memory(pids)
                rss, pss, processes = max(rss, r), max(pss, p), max(processes, len(pids))
                written = max(written, self.written(tmpdir, cwd) - already)
        code, _ = finish(proc)
        left = self.written(tmpdir, cwd) - already
        shutil.rmtree(tmpdir, ignore_errors=True)
        shutil.rmtree(cwd, ignore_errors=True)
        return {"rss_bytes": rss, "pss_bytes": pss, "chain_processes": processes, "written_bytes": written,
                "written_left_bytes": left, "run_exit": code}

    def cpu100m(self, wrapper: Wrapper) -> dict:
        """docker run --cpus 0.1 of the app alone, then of the wrapper and the app."""
        sidecar = self.containers.sidecar
        quits = len(sidecar.quits)
        alone, _ = self.containers.run("app", ["/app", "0"])
        took, code = self.containers.run(wrapper.name, wrapper.container_command(["/app", "0"]), wrapper.env)
        return {"cpu100m_app_ms": alone, "cpu100m_ms": took, "cpu100m_delay_ms": took - alone,
                "cpu100m_exit": code, "cpu100m_quit_sent": len(sidecar.quits) > quits}

    def version(self, wrapper: Wrapper) -> dict:
        """CPU time of a build of ours printing ``--version`` (configuration read, nothing else
        done), and in ours' turn a bare ``python3.11 -I -S -c pass`` beside it: the interpreter's
        own start, the floor of any start in Python."""
        if wrapper.kind not in ("ours", "variant"):
            return {}
        found = {"version_cpu_ms": cpu_ms_of([str(wrapper.binary), "--version"])}
        if wrapper.kind == "ours" and os.access(BARE_PYTHON, os.X_OK):
            found["python_cpu_ms"] = cpu_ms_of([BARE_PYTHON, "-I", "-S", "-c", "pass"])
        return found

    def exit3(self, wrapper: Wrapper) -> dict:
        proc, _ = self.start(wrapper, ["3"], "exit3")
        return {"exit3": finish(proc)[0]}

    def sigterm(self, wrapper: Wrapper) -> dict:
        """As in a container: the wrapper is PID 1 of its own PID namespace (unshare -p)."""
        stamp = Stamp(self.work)
        quits = len(self.ready_sidecar.quits)
        proc, _ = self.start(wrapper, ["-t", str(stamp.path), "-s", "3000", "0"], "sigterm",
                             prefix=["unshare", "-p", "-f", "--kill-child", "--"])
        stamp.wait(10)
        pid1 = next((child for child, parent in children().items() if parent == proc.pid), None)
        time.sleep(0.1)
        sent = time.monotonic()
        os.kill(pid1, signal.SIGTERM)
        code, _ = finish(proc)
        took = time.monotonic() - sent
        reap_orphans()
        # The app sleeps 3 s: a wrapper back within 2.5 s stopped it (or had the kernel kill it).
        return {"sigterm_exit": code, "sigterm_s": took, "sigterm_app_stopped": took < 2.5,
                "sigterm_quit_sent": len(self.ready_sidecar.quits) > quits}


def cpu_ms(usage) -> float:
    """User and system CPU of a process tree, from wait4's rusage (harness.finish)."""
    return (usage.ru_utime + usage.ru_stime) * 1000


def cpu_ms_of(argv: list) -> float:
    """Run ``argv`` with no input or output; its CPU time."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cpu_ms(finish(proc)[1])


SCENARIOS = ("job", "version", "latency", "flood", "run", "cpu100m", "exit3", "sigterm")
BARE_PYTHON = "/usr/bin/python3.11"  # Debian's, whose libpython the binary links


