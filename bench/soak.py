#!/usr/bin/env python3
"""`make soak`: sidecar-killer over a long wait and over many jobs in a row (stdlib only).

Two soaks against the fake Istio sidecar (tests/helpers/fake_sidecar.py, in this process):

  poll  the proxy answers 503 for the whole soak; the wrapper runs with
        --ready-timeout POLL_MINUTES*60 --on-ready-timeout fail -- /bin/true.
        Every 5 s: its RSS (VmRSS) and open descriptors (/proc/PID/fd; the fewest of 3 reads
        25 ms apart, so a probe's socket caught in flight is not counted as a leak).
        Checks: exit 69 (not ready in time); RSS flat (max - 2nd sample <= 256 KiB); fds
        constant after the first sample; exactly one quit POST at the end.
  jobs  the proxy is ready at once, its quit answers 200 and it keeps listening; JOBS runs of
        -- /bin/sh -c "exit K", K = 0..JOBS-1 mod 256, one after the other, each reaped with
        os.wait4. Checks: every exit code is K; the wrapper's peak RSS (wait4's ru_maxrss, every
        100th job and the last) flat (max - min <= 512 KiB); one quit per job; this process's
        own open descriptors do not grow over the run (no leak in the harness).

Each prints a short plain-text report; the script exits 1 if any check failed.
--binary PATH (default dist/sidecar-killer) is the wrapper, copied first (a rebuild during the
soak changes nothing); --python runs `python -m entrypoint` from this checkout instead
(PYTHONPATH=repo), to compare. --poll-minutes 0 or --jobs 0 leaves that soak out.
Needs Linux (/proc, prctl).
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
from tests.helpers.fake_sidecar import FakeSidecar  # noqa: E402

SAMPLE_EVERY = 5.0        # seconds between samples of the polling wrapper
RSS_FLAT_POLL = 256       # KiB: max RSS - RSS at the 2nd sample, poll soak
RSS_FLAT_JOBS = 512       # KiB: max - min of ru_maxrss over the sampled jobs
JOB_SAMPLE_EVERY = 100    # ru_maxrss of every 100th job (and the last)
JOB_TIMEOUT = 30.0        # a job that takes longer is killed (and counted wrong)
NOT_READY_IN_TIME = 69    # EX_UNAVAILABLE: --on-ready-timeout fail
PR_SET_CHILD_SUBREAPER = 36
# Started by a shell that exits at once: the wrapper's ru_maxrss starts from the shell's
# small peak, not from ours (Linux carries the old memory's peak across exec).
LAUNCH = '"$@" >/dev/null & echo $!'


# ---- what we run ------------------------------------------------------------------------
class Wrapper:
    """The wrapper's command line prefix and environment: the binary, or `python -m entrypoint`."""

    def __init__(self, args, work: Path):
        self.env = {"PATH": os.environ.get("PATH", os.defpath)}  # no SIDECAR_KILLER_* from outside
        if args.python:
            self.prefix = [sys.executable, "-m", "entrypoint"]
            self.env["PYTHONPATH"] = str(REPO)
            self.label = f"{sys.executable} -m entrypoint (PYTHONPATH={REPO})"
        else:
            binary = Path(args.binary)
            if not binary.is_absolute() and not binary.exists() and (REPO / binary).exists():
                binary = REPO / binary  # relative to the checkout when not to the working directory
            binary = binary.resolve()
            if not os.access(binary, os.X_OK):
                sys.exit(f"soak: {binary} is missing or not executable (make build)")
            # A copy: a rebuild of dist/ during the soak changes nothing of what is measured.
            copy = work / binary.name
            shutil.copy2(binary, copy)
            with open(copy, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()[:12]
            version = subprocess.run([str(copy), "--version"], capture_output=True, text=True).stdout.strip()
            self.prefix = [str(copy)]
            self.label = f"{binary} (copied; {copy.stat().st_size} bytes, sha256 {digest}...; {version})"

    def popen(self, argv: list, stderr) -> subprocess.Popen:
        return subprocess.Popen([*self.prefix, *argv], env=self.env, cwd=REPO, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr)

    def launch(self, argv: list, stderr) -> int:
        """Start the wrapper as a grandchild, through /bin/sh, and return its pid: once the shell
        has exited it is our child (we are a child subreaper), for os.wait4.

        Why: a process's ru_maxrss starts from the peak RSS of the memory it replaced at exec.
        Spawned by us (fork, vfork or posix_spawn alike) that is this harness's own peak
        (VmHWM: tens of MiB, and growing with the fake's threads), which hides the wrapper's."""
        shell = subprocess.Popen(["/bin/sh", "-c", LAUNCH, "sh", *self.prefix, *argv], env=self.env, cwd=REPO,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
        out, _ = shell.communicate(timeout=JOB_TIMEOUT)
        if shell.returncode != 0:
            raise RuntimeError(f"soak: the launching shell exited {shell.returncode}")
        return int(out)


def rss_kib(pid: int) -> int | None:
    """VmRSS of ``pid`` in KiB; None once it has exited (a zombie has no VmRSS)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def fd_count(pid: int | str, reads: int = 1, gap: float = 0.025) -> int | None:
    """Open descriptors of ``pid``: the fewest of ``reads`` reads ``gap`` apart (a socket that
    exists only while a request is in flight is not a leak); None once it has exited."""
    counts = []
    for i in range(reads):
        if i:
            time.sleep(gap)
        try:
            counts.append(len(os.listdir(f"/proc/{pid}/fd")))
        except OSError:
            return None
    return min(counts)


def own_fds() -> int:
    """This process's open descriptors, settled: the fake's handler threads close a job's
    connections just after the job has its answer."""
    return fd_count("self", reads=5, gap=0.05) - 1  # less the one listdir itself holds


def tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        text = []
    return "\n".join("    | " + line for line in text) or "    (empty)"


class Checks:
    def __init__(self):
        self.failed = []

    def check(self, name: str, ok: bool, detail: str):
        print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")
        if not ok:
            self.failed.append(name)


# ---- the poll soak ----------------------------------------------------------------------
def poll_soak(wrapper: Wrapper, minutes: float, work: Path, checks: Checks):
    seconds = minutes * 60
    print(f"poll soak: the proxy answers 503 for {seconds:g}s; --ready-timeout {seconds:g} "
          f"--on-ready-timeout fail -- /bin/true; a sample every {SAMPLE_EVERY:g}s")
    fake = FakeSidecar(ready_after=1e9).start()
    stderr_path = work / "poll-stderr.txt"
    samples = []  # (seconds since start, RSS KiB, fds)
    try:
        with open(stderr_path, "wb") as stderr:
            started = time.monotonic()
            proc = wrapper.popen(["--ready-url", fake.ready_url, "--quit-url", fake.quit_url,
                                  "--ready-timeout", f"{seconds:g}", "--on-ready-timeout", "fail",
                                  "--", "/bin/true"], stderr)
        try:
            next_sample = started + SAMPLE_EVERY
            while True:
                try:
                    code = proc.wait(timeout=max(next_sample - time.monotonic(), 0))
                    break
                except subprocess.TimeoutExpired:
                    pass
                if time.monotonic() - started > seconds + 60:
                    proc.kill()
                    code = proc.wait()
                    print(f"  killed: still running {seconds + 60:g}s after start")
                    break
                if time.monotonic() < started + seconds - 0.5:  # not as the wait ends: the wrapper quits, exits
                    rss, fds = rss_kib(proc.pid), fd_count(proc.pid, reads=3)
                    # Read its RSS again: gone (None) if it exited during the reads, its fds closed.
                    if rss is not None and fds is not None and rss_kib(proc.pid) is not None:
                        samples.append((time.monotonic() - started, rss, fds))
                next_sample += SAMPLE_EVERY
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        took = time.monotonic() - started
        time.sleep(0.1)  # the handler thread of the last request has recorded it
        ready = sorted(r.at for r in fake.requests_for("ready"))
        quits = [r for r in fake.requests_for("quit") if r.method == "POST"]
    finally:
        fake.close()

    rss = [s[1] for s in samples]
    fds = [s[2] for s in samples]
    rate = (len(ready) - 1) / (ready[-1] - ready[0]) if len(ready) >= 2 else 0.0
    print(f"  wrapper ran {took:.2f}s (--ready-timeout {seconds:g}s), exit code {code}")
    print(f"  samples: {len(samples)}")
    if samples:
        print(f"  RSS KiB: first {rss[0]}, 2nd {rss[1] if len(rss) > 1 else '-'}, "
              f"median {statistics.median(rss):g}, max {max(rss)}, last {rss[-1]}")
        print(f"  fds: first {fds[0]}, max {max(fds)}")
    print(f"  readiness requests: {len(ready)} ({rate:.2f}/s between the first and the last)")
    print(f"  quit POSTs: {len(quits)} (status {', '.join(str(q.status) for q in quits) or '-'})")
    checks.check("poll exit code", code == NOT_READY_IN_TIME, f"{code} (want {NOT_READY_IN_TIME})")
    if len(rss) >= 2:
        growth = max(rss) - rss[1]
        checks.check("poll RSS flat", growth <= RSS_FLAT_POLL,
                     f"max - 2nd sample = {growth} KiB (limit {RSS_FLAT_POLL})")
    else:
        checks.check("poll RSS flat", False, f"{len(rss)} sample(s): need 2 (a longer --poll-minutes)")
    checks.check("poll fds constant", bool(fds) and all(f == fds[0] for f in fds),
                 f"{sorted(set(fds))}" if fds else "no samples")
    checks.check("poll one quit", len(quits) == 1, f"{len(quits)} quit POST(s)")
    if checks.failed:
        print("  wrapper's stderr (last lines):\n" + tail(stderr_path))


# ---- the job soak -----------------------------------------------------------------------
def reap(pid: int, timeout: float) -> tuple:
    """os.wait4 of ``pid`` -> (exit code, rusage); kills it if it takes over ``timeout``."""
    def kill():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    watchdog = threading.Timer(timeout, kill)
    watchdog.start()
    try:
        _, status, usage = os.wait4(pid, 0)
    finally:
        watchdog.cancel()
    return os.waitstatus_to_exitcode(status), usage


def own_hwm() -> int:
    """This process's peak RSS (VmHWM) in KiB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def job_soak(wrapper: Wrapper, jobs: int, work: Path, checks: Checks):
    print(f"job soak: {jobs} jobs in a row, -- /bin/sh -c 'exit K' with K = job mod 256; "
          f"the proxy ready, its quit answering 200")
    fake = FakeSidecar().start()
    stderr_path = work / "job-stderr.txt"
    wrong = []        # (job, want, got, stderr)
    maxrss = []       # (job, ru_maxrss KiB) of the sampled jobs, started through /bin/sh
    direct_maxrss = 0  # the largest ru_maxrss of the others, our children: our own peak, not theirs
    harness_fds = []  # (job, this process's fds)
    try:
        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            sys.exit(f"soak: prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
        fds_before = own_fds()
        # One file for every job's stderr, emptied before each: O_APPEND, so writes land at its end.
        stderr = open(stderr_path, "ab")
        started = time.monotonic()
        try:
            for job in range(jobs):
                want = job % 256
                stderr.truncate(0)
                argv = ["--ready-url", fake.ready_url, "--quit-url", fake.quit_url,
                        "--", "/bin/sh", "-c", f"exit {want}"]
                if job % JOB_SAMPLE_EVERY == 0 or job == jobs - 1:
                    code, usage = reap(wrapper.launch(argv, stderr), JOB_TIMEOUT)
                    maxrss.append((job, usage.ru_maxrss))  # Linux: KiB
                else:
                    proc = wrapper.popen(argv, stderr)
                    code, usage = reap(proc.pid, JOB_TIMEOUT)
                    proc.returncode = code  # reaped: Popen must not wait for it again
                    direct_maxrss = max(direct_maxrss, usage.ru_maxrss)
                if code != want:
                    wrong.append((job, want, code, stderr_path.read_text(errors="replace")))
                if job % JOB_SAMPLE_EVERY == JOB_SAMPLE_EVERY - 1:
                    harness_fds.append((job, len(os.listdir("/proc/self/fd")) - 1))
        finally:
            stderr.close()
        took = time.monotonic() - started
        time.sleep(0.1)  # the handler thread of the last quit has recorded it
        fds_after = own_fds()
        quits = [r for r in fake.requests_for("quit") if r.method == "POST"]
        quits_ok = [r for r in quits if r.status == 200]
        ready = fake.requests_for("ready")
    finally:
        fake.close()

    peaks = [kib for _, kib in maxrss]
    print(f"  jobs run: {jobs} in {took:.1f}s ({jobs / took:.1f} jobs/s, {took / jobs * 1000:.1f} ms each)")
    print(f"  codes wrong: {len(wrong)}")
    for job, want, got, text in wrong[:3]:
        lines = text.splitlines()[-6:]
        print(f"    job {job}: want {want}, got {got}; stderr:" + ("" if lines else " (empty)"))
        for line in lines:
            print("    | " + line)
    print(f"  ru_maxrss KiB over {len(peaks)} sampled jobs ({', '.join(str(j) for j, _ in maxrss[:4])}"
          f"{', ...' if len(maxrss) > 4 else ''}): median {statistics.median(peaks):g}, max {max(peaks)}, "
          f"max - min {max(peaks) - min(peaks)}")
    if direct_maxrss:
        print(f"  (the other jobs, spawned directly: ru_maxrss up to {direct_maxrss} KiB, this harness's own "
              f"peak carried across exec: VmHWM {own_hwm()} KiB)")
    print(f"  proxy saw: {len(ready)} readiness requests, {len(quits)} quit POSTs ({len(quits_ok)} answered 200)")
    print(f"  harness fds: {fds_before} before, {fds_after} after"
          + (f" (right after every {JOB_SAMPLE_EVERY}th job, the fake still closing its connections: "
             f"{min(f for _, f in harness_fds)}-{max(f for _, f in harness_fds)})" if harness_fds else ""))
    checks.check("jobs codes right", not wrong, f"{len(wrong)} wrong of {jobs}")
    checks.check("jobs RSS flat", max(peaks) - min(peaks) <= RSS_FLAT_JOBS,
                 f"max - min ru_maxrss = {max(peaks) - min(peaks)} KiB (limit {RSS_FLAT_JOBS})")
    checks.check("jobs one quit each", len(quits) == jobs, f"{len(quits)} quit POSTs for {jobs} jobs")
    checks.check("harness fds flat", fds_after <= fds_before, f"{fds_before} -> {fds_after}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--binary", default="dist/sidecar-killer", help="the wrapper [%(default)s]")
    parser.add_argument("--python", action="store_true",
                        help="run `python -m entrypoint` from this checkout instead of --binary")
    parser.add_argument("--poll-minutes", type=float, default=10.0,
                        help="how long the proxy stays 503 in the poll soak; 0: no poll soak [%(default)g]")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs in the job soak; 0: no job soak [%(default)d]")
    args = parser.parse_args()
    if args.poll_minutes < 0 or args.jobs < 0:
        parser.error("--poll-minutes and --jobs must not be negative")
    if not Path("/proc/self/fd").is_dir():
        sys.exit("soak: needs Linux (/proc)")

    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="sidecar-killer-soak-") as work:
        wrapper = Wrapper(args, Path(work))
        print(f"soak: {wrapper.label}")
        if args.poll_minutes > 0:
            poll_soak(wrapper, args.poll_minutes, Path(work), checks)
        if args.jobs > 0:
            job_soak(wrapper, args.jobs, Path(work), checks)
    if checks.failed:
        print(f"soak: FAILED: {', '.join(checks.failed)}")
        return 1
    print("soak: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
