#!/usr/bin/env python3
"""`make bench`: sidecar-killer against the alternatives, measured side by side in one run.

Each wrapper runs the same static test app (bench/app.c) against the same fake Istio sidecar
(tests/helpers/fake_sidecar.py, in this process) on the fixed ports 15021/15020, inside a
private network namespace (`unshare -n`: the script re-executes itself there; needs root).
Rounds interleave the wrappers, so load on the machine hits them alike. Per wrapper and round:

  job      proxy already ready, the app exits 0 at once: wall time, wrapper start to exit
  latency  the proxy answers 503 for 0.5 s after it starts listening, then 200; the wrapper
           starts a random 0-0.3 s after it (so its probe schedule has a random phase):
           time from the ready moment to the app's start
  run      the app sleeps: RSS (and PSS) of the wrapper chain, every process but the app,
           and the bytes the chain has put under a fresh $TMPDIR, both sampled while it runs
  exit3    the app exits 3: the wrapper's exit code
  flood    the proxy answers 503 for 2 s: non-200 answers per second while the wrapper polls
           (each one is a warning line in pilot-agent's log)
  sigterm  the wrapper is PID 1 of a PID namespace, as in a container; SIGTERM to it while the
           app sleeps with default handlers: exit code, was the app stopped, was the proxy quit

It prints one table (median, min and max per figure), checks ours against the issue's
targets, and writes bench/out/results.json, bench/out/table.md and docs/bench.png.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
from tests.helpers.fake_sidecar import FakeSidecar  # noqa: E402

READY_PORT, QUIT_PORT = 15021, 15020
READY_AFTER = 0.5           # the issue: ready 0.5 s after the proxy starts listening
START_SPREAD = 0.3          # wrapper starts 0..0.3 s after the proxy: a random probe phase
FLOOD_WAIT = 2.0            # the proxy answers 503 this long in the flood scenario
MiB, MB = 1024 * 1024, 1000 * 1000
SEED_QUIT = "wget -q --post-data= -O /dev/null http://127.0.0.1:15020/quitquitquit"
SEED_WAIT = "until wget -q -O /dev/null http://127.0.0.1:15021/healthz/ready; do sleep 1; done"

# The targets for ours: figure -> (statistic checked, limit, unit text).
TARGETS = {
    "binary_bytes": ("value", 7.5 * MiB, "<= 7.5 MiB"),
    "job_ms": ("median", 120, "<= 120 ms median"),
    "latency_ms": ("median", 75, "<= 75 ms median"),
    "non200_per_s": ("median", 10, "<= 10/s median"),
    "rss_bytes": ("median", 16 * MiB, "<= 16 MiB median"),  # the figures are medians
    "tmp_bytes": ("max", 16 * MB, "<= 16 MB (every run)"),
}


# ---- the wrappers -----------------------------------------------------------------------
class Wrapper:
    def __init__(self, name: str, label: str, binary: Path, layer: list, command):
        self.name, self.label, self.binary, self.layer, self.command = name, label, binary, layer, command


def wrappers(args) -> list:
    ours = Path(args.ours).resolve()
    busybox = Path(shutil.which("busybox") or "/bin/busybox")
    floor = BENCH / "build" / "floor"

    def seed(wait: bool):
        def command(app: list) -> list:
            script = f"{shlex.join(app)}; x=$?; {SEED_QUIT}; exit $x"
            return [str(busybox), "sh", "-c", f"{SEED_WAIT}; {script}" if wait else script]
        return command

    every = [
        Wrapper("ours", "ours (sidecar-killer)", ours, [("sidecar-killer", ours), ("tmp/", None)],
                lambda app: [str(ours), "--", *app]),
        Wrapper("busybox", "busybox (seed)", busybox, [("busybox", busybox)], seed(False)),
        Wrapper("busybox-wait", "busybox + wait loop", busybox, [("busybox", busybox)], seed(True)),
        Wrapper("floor", "floor (C)", floor, [("floor", floor)], lambda app: [str(floor), *app]),
    ]
    for variant in args.variant:  # other builds of ours, e.g. the steps of docs/performance.md
        name, _, path = variant.partition("=")
        binary = Path(path).resolve()
        every.append(Wrapper(name, name, binary, [("sidecar-killer", binary), ("tmp/", None)],
                             lambda app, binary=binary: [str(binary), "--", *app]))
        if name not in args.wrappers:
            args.wrappers.append(name)
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
    """Summed Rss and Pss of ``pids`` in bytes (smaps_rollup), and how many were read."""
    rss = pss = counted = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                next(rollup)  # the address-range header line
                fields = dict(line.split(":", 1) for line in rollup)
        except OSError:
            continue
        rss += int(fields["Rss"].split()[0]) * 1024
        pss += int(fields["Pss"].split()[0]) * 1024
        counted += 1
    return rss, pss, counted


def tree_bytes(directory: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def reap_orphans():
    """We are a child subreaper: collect apps a wrapper left behind (and kill the living)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def become_subreaper():
    import ctypes
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


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


class Bench:
    def __init__(self, args, work: Path):
        self.args = args
        self.work = work
        self.app = str(BENCH / "build" / "app")
        self.stderr_dir = BENCH / "out" / "stderr"
        self.stderr_dir.mkdir(parents=True, exist_ok=True)
        self.ready_sidecar = None  # the proxy, already ready, of the scenarios but latency

    def measure(self, wrapper: Wrapper, scenarios: list) -> dict:
        """One round of ``scenarios`` for ``wrapper``: {figure: value}."""
        found = {}
        if "latency" in scenarios:  # latency and flood bring their own, not ready at first
            found.update(self.latency(wrapper))
        if "flood" in scenarios:
            found.update(self.flood(wrapper))
        with FakeSidecar(ready_port=READY_PORT, quit_port=QUIT_PORT) as self.ready_sidecar:
            for scenario in scenarios:
                if scenario not in ("latency", "flood"):
                    found.update(getattr(self, scenario)(wrapper))
        return found

    def start(self, wrapper: Wrapper, app_args: list, scenario: str, env_extra: dict | None = None,
              prefix: tuple = ()):
        env = {"PATH": os.environ.get("PATH", os.defpath)}
        env.update(env_extra or {})
        stderr = open(self.stderr_dir / f"{wrapper.name}-{scenario}.txt", "wb")
        started = time.monotonic()
        proc = subprocess.Popen([*prefix, *wrapper.command([self.app, *app_args])], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr)
        stderr.close()
        return proc, started

    def finish(self, proc, timeout: float = 20.0) -> int:
        """Wait for the wrapper's exit, blocking: Popen.wait(timeout) polls with sleeps of up
        to 50 ms, which would add to the timings. A watchdog kills a hung wrapper instead."""
        def kill():
            for pid in tree(proc.pid, children()):
                os.kill(pid, signal.SIGKILL)
        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        try:
            return proc.wait()
        finally:
            watchdog.cancel()

    def quits(self, sidecar) -> int:
        return len(sidecar.quits)

    # -- scenarios --------------------------------------------------------------------
    def job(self, wrapper: Wrapper) -> dict:
        seen = len(self.ready_sidecar.requests)
        proc, started = self.start(wrapper, ["0"], "job")
        code = self.finish(proc)
        took = (time.monotonic() - started) * 1000
        # Where the time goes: first request to the proxy, last request (the quit), exit.
        requests = [(r.at - started) * 1000 for r in self.ready_sidecar.requests[seen:]]
        return {"job_ms": took, "job_exit": code, "job_first_request_ms": min(requests, default=None),
                "job_last_request_ms": max(requests, default=None), "job_requests": len(requests)}

    def latency(self, wrapper: Wrapper) -> dict:
        ready_at, started, sidecar, code, app = self.wait_run(wrapper, READY_AFTER, START_SPREAD, "latency")
        return {"latency_ms": (app[1] - ready_at) * 1000 if app else None, "latency_exit": code}

    def flood(self, wrapper: Wrapper) -> dict:
        ready_at, started, sidecar, code, app = self.wait_run(wrapper, FLOOD_WAIT, 0.0, "flood")
        answered = sorted(r.at for r in sidecar.requests_for("ready") if r.status not in (200, None))
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
        sidecar = FakeSidecar(ready_port=READY_PORT, quit_port=QUIT_PORT, ready_after=ready_after).start()
        try:
            time.sleep(max(listening + random.uniform(0, spread) - time.monotonic(), 0))
            proc, started = self.start(wrapper, ["-t", str(stamp.path), "0"], scenario)
            code = self.finish(proc)
        finally:
            sidecar.close()
        return listening + ready_after, started, sidecar, code, stamp.read()

    def run(self, wrapper: Wrapper) -> dict:
        stamp = Stamp(self.work)
        tmpdir = Path(tempfile.mkdtemp(prefix="tmpdir-", dir=self.work))
        proc, _ = self.start(wrapper, ["-t", str(stamp.path), "-s", "700", "0"], "run", {"TMPDIR": str(tmpdir)})
        app = stamp.wait(10)
        rss = pss = tmp_bytes = chain = 0
        if app:
            for at in (0.15, 0.3, 0.45):  # the chain has settled into waiting for the app
                time.sleep(max(app[1] + at - time.monotonic(), 0))
                pids = tree(proc.pid, children(), skip=app[0])
                r, p, chain = memory(pids)
                rss, pss = max(rss, r), max(pss, p)
                tmp_bytes = max(tmp_bytes, tree_bytes(tmpdir))
        code = self.finish(proc)
        left = tree_bytes(tmpdir)
        shutil.rmtree(tmpdir, ignore_errors=True)
        return {"rss_bytes": rss, "pss_bytes": pss, "chain_processes": chain, "tmp_bytes": tmp_bytes,
                "tmp_left_bytes": left, "run_exit": code}

    def exit3(self, wrapper: Wrapper) -> dict:
        proc, _ = self.start(wrapper, ["3"], "exit3")
        return {"exit3": self.finish(proc)}

    def sigterm(self, wrapper: Wrapper) -> dict:
        """As in a container: the wrapper is PID 1 of its own PID namespace (unshare -p)."""
        stamp = Stamp(self.work)
        quits = self.quits(self.ready_sidecar)
        proc, _ = self.start(wrapper, ["-t", str(stamp.path), "-s", "3000", "0"], "sigterm",
                             prefix=["unshare", "-p", "-f", "--kill-child", "--"])
        stamp.wait(10)
        pid1 = next((child for child, parent in children().items() if parent == proc.pid), None)
        time.sleep(0.1)
        sent = time.monotonic()
        os.kill(pid1, signal.SIGTERM)
        code = self.finish(proc)
        took = time.monotonic() - sent
        reap_orphans()
        # The app sleeps 3 s: a wrapper back within 2.5 s stopped it (or had the kernel kill it).
        return {"sigterm_exit": code, "sigterm_s": took, "sigterm_app_stopped": took < 2.5,
                "sigterm_quit_sent": self.quits(self.ready_sidecar) > quits}


SCENARIOS = ("job", "latency", "flood", "run", "exit3", "sigterm")


# ---- figures ------------------------------------------------------------------------------
def layer_sizes(wrapper: Wrapper) -> tuple:
    """The image layer that carries the wrapper, as docker stores it (tar) and ships it (gzip)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in wrapper.layer:
            if path is None:  # our /tmp, mode 1777
                info = tarfile.TarInfo(name.rstrip("/"))
                info.type, info.mode = tarfile.DIRTYPE, 0o1777
                tar.addfile(info)
            else:
                info = tar.gettarinfo(str(path), arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
    data = buffer.getvalue()
    return len(data), len(gzip.compress(data, 6, mtime=0))


def summary(values: list) -> dict:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers:
        return {}
    return {"median": statistics.median(numbers), "min": min(numbers), "max": max(numbers), "n": len(numbers)}


def exit_text(code) -> str:
    if code is None:
        return "?"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return str(code)


ROWS = (  # figure, row title, scale, unit format
    ("job_ms", "job overhead (ms)", 1, "{:.0f}"),
    ("latency_ms", "ready-to-app latency (ms)", 1, "{:.0f}"),
    ("non200_per_s", "non-200 answers per s of waiting", 1, "{:.1f}"),
    ("rss_bytes", "chain RSS (MiB)", MiB, "{:.1f}"),
    ("pss_bytes", "chain PSS (MiB)", MiB, "{:.1f}"),
    ("tmp_bytes", "/tmp written per start (MB)", MB, "{:.1f}"),
)


def cell(stats: dict, scale: float, fmt: str) -> str:
    if not stats:
        return "-"
    m, lo, hi = (stats[k] / scale for k in ("median", "min", "max"))
    if fmt.format(lo) == fmt.format(hi):
        return fmt.format(m)
    return f"{fmt.format(m)} ({fmt.format(lo)}–{fmt.format(hi)})"


def most_common(values: list):
    return max(set(values), key=values.count) if values else None


def table(results: dict, meta: dict) -> str:
    names = list(results)
    head = "| figure | " + " | ".join(results[n]["label"] for n in names) + " |"
    lines = [head, "|---" * (len(names) + 1) + "|"]
    for key, title, scale, fmt in ROWS:
        lines.append(f"| {title} | " + " | ".join(cell(results[n]["stats"].get(key, {}), scale, fmt)
                                                  for n in names) + " |")
    lines.append("| binary size (MiB) | " + " | ".join(f"{results[n]['binary_bytes'] / MiB:.2f}" for n in names) + " |")
    lines.append("| image layer, tar / gzip (MiB) | " + " | ".join(
        f"{results[n]['layer_tar_bytes'] / MiB:.2f} / {results[n]['layer_gzip_bytes'] / MiB:.2f}" for n in names) + " |")
    lines.append("| exit code, app exits 3 | " + " | ".join(
        ", ".join(sorted({exit_text(c) for c in results[n]["raw"].get("exit3", [])})) for n in names) + " |")
    sig_cells = []
    for n in names:
        raw = results[n]["raw"]
        runs = list(zip(raw.get("sigterm_exit", []), raw.get("sigterm_app_stopped", []),
                        raw.get("sigterm_quit_sent", [])))
        if not runs:
            sig_cells.append("-")
            continue
        code, stopped, quit_sent = most_common(runs)
        took = statistics.median(raw["sigterm_s"])
        text = f"{exit_text(code)} after {took:.2f} s; " + \
               ("app stopped" if stopped else "TERM ignored, app ran to its end") + \
               f"; {'proxy quit' if quit_sent else 'no quit'}"
        if runs.count((code, stopped, quit_sent)) != len(runs):
            text += f" ({runs.count((code, stopped, quit_sent))}/{len(runs)} runs)"
        sig_cells.append(text)
    lines.append("| SIGTERM while the app runs | " + " | ".join(sig_cells) + " |")
    notes = [f"Medians of {meta['rounds']} interleaved rounds, (min–max); {meta['when']}; "
             f"load average {meta['load_before']} before, {meta['load_after']} after; {meta['cpus']} CPUs."]
    return "\n".join(lines) + "\n\n" + " ".join(notes) + "\n"


def check_targets(ours: dict) -> list:
    lines = []
    for key, (stat, limit, text) in TARGETS.items():
        value = ours["binary_bytes"] if stat == "value" else ours["stats"].get(key, {}).get(stat)
        ok = value is not None and value <= limit
        lines.append((key, text, value, ok))
    return lines


SHORT = {"busybox": "busybox\n(seed)", "busybox-wait": "busybox\n+ wait loop", "floor": "floor\n(C)"}


def chart(results: dict, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("job_ms", "job overhead (ms)", 1, "job_ms"),
        ("latency_ms", "ready-to-app latency (ms)", 1, "latency_ms"),
        ("non200_per_s", "non-200 answers / s waiting", 1, "non200_per_s"),
        ("rss_bytes", "chain RSS (MiB)", MiB, "rss_bytes"),
        ("tmp_bytes", "/tmp written per start (MB)", MB, "tmp_bytes"),
        ("binary_bytes", "binary size (MiB)", MiB, "binary_bytes"),
        ("layer_gzip_bytes", "image layer, gzip (MiB)", MiB, None),
    ]
    names = list(results)
    colors = {"ours": "#1f77b4", "busybox": "#ff7f0e", "busybox-wait": "#ffbb78", "floor": "#2ca02c"}
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.5))
    for ax, (key, title, scale, target) in zip(axes.flat, panels):
        medians, lows, highs = [], [], []
        for n in names:
            stats = results[n]["stats"].get(key)
            if stats:
                m, lo, hi = stats["median"] / scale, stats["min"] / scale, stats["max"] / scale
            else:
                m = lo = hi = results[n].get(key, 0) / scale
            medians.append(m)
            lows.append(max(m - lo, 0))
            highs.append(max(hi - m, 0))
        x = range(len(names))
        ax.bar(x, medians, yerr=[lows, highs], capsize=4, color=[colors.get(n, "grey") for n in names])
        ax.set_xticks(list(x), [SHORT.get(n, n) for n in names], fontsize=8)
        ax.set_title(title, fontsize=10)
        if target in TARGETS:
            ax.axhline(TARGETS[target][1] / scale, color="red", linestyle="--", linewidth=1)
        for i, m in enumerate(medians):
            top = m + highs[i] if m >= 0 else m - lows[i]
            ax.annotate(f"{m:.0f}" if abs(m) >= 100 else f"{m:.1f}", (i, top), ha="center",
                        va="bottom" if m >= 0 else "top", fontsize=8, xytext=(0, 2 if m >= 0 else -2),
                        textcoords="offset points")
        ax.margins(y=0.12)
        ax.axhline(0, color="black", linewidth=0.5)
    axes.flat[-1].axis("off")
    axes.flat[-1].text(0, 0.5, "bars: median; whiskers: min-max\nred dashed: target for ours\n"
                       "busybox (seed) starts the app without\nwaiting: its latency is negative",
                       fontsize=9, va="center")
    fig.suptitle("sidecar-killer vs the alternatives (make bench)", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


# ---- main -----------------------------------------------------------------------------------
def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_for_quiet(limit: float, patience: float):
    deadline = time.monotonic() + patience
    while float(loadavg().split()[0]) >= limit and time.monotonic() < deadline:
        print(f"bench: load {loadavg()}: waiting for < {limit}", file=sys.stderr, flush=True)
        time.sleep(15)


def enter_namespace(argv: list, script: str = __file__):
    """Re-run ``script`` in a private network namespace with loopback up."""
    if os.environ.get("SK_BENCH_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if os.geteuid() != 0:
        sys.exit("bench: needs root (unshare -n for the fixed ports 15020/15021)")
    os.environ["SK_BENCH_NETNS"] = "1"
    os.execvp("unshare", ["unshare", "-n", "--", sys.executable, str(Path(script).resolve()), *argv])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--ours", default=str(REPO / "dist" / "sidecar-killer"))
    parser.add_argument("--wrappers", default="ours,busybox,busybox-wait,floor",
                        type=lambda text: text.split(","))
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=PATH",
                        help="also run this build of ours (repeatable; bench/levers.sh uses it)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), type=lambda text: text.split(","))
    parser.add_argument("--quiet-load", type=float, default=0.0,
                        help="first wait (up to --quiet-wait s) until the 1-min load is below this")
    parser.add_argument("--quiet-wait", type=float, default=600)
    parser.add_argument("--chart", default=str(REPO / "docs" / "bench.png"), help="'' for none")
    parser.add_argument("--out", default=str(BENCH / "out"))
    parser.add_argument("--replot", metavar="RESULTS_JSON", help="only redraw the chart from a results.json")
    args = parser.parse_args(argv)
    if args.replot:
        chart(json.loads(Path(args.replot).read_text())["results"], Path(args.chart))
        return 0
    enter_namespace(argv)
    become_subreaper()

    chosen = wrappers(args)
    if args.quiet_load:
        wait_for_quiet(args.quiet_load, args.quiet_wait)
    meta = {"rounds": args.rounds, "load_before": loadavg(), "cpus": os.cpu_count(),
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    raw = {w.name: {} for w in chosen}
    work = Path(tempfile.mkdtemp(prefix="sk-bench-"))
    bench = Bench(args, work)
    try:
        for round_ in range(args.rounds):
            order = chosen[round_ % len(chosen):] + chosen[:round_ % len(chosen)]  # rotate who goes first
            for wrapper in order:
                for key, value in bench.measure(wrapper, args.scenarios).items():
                    raw[wrapper.name].setdefault(key, []).append(value)
            print(f"bench: round {round_ + 1}/{args.rounds} done (load {loadavg()})", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta["load_after"] = loadavg()

    results = {}
    for wrapper in chosen:
        tar_bytes, gzip_bytes = layer_sizes(wrapper)
        results[wrapper.name] = {
            "label": wrapper.label, "binary": str(wrapper.binary), "binary_bytes": wrapper.binary.stat().st_size,
            "layer_tar_bytes": tar_bytes, "layer_gzip_bytes": gzip_bytes, "raw": raw[wrapper.name],
            "stats": {key: summary(values) for key, values in raw[wrapper.name].items()},
        }
    text = table(results, meta)
    print(text)
    if "ours" in results:
        print("targets for ours (the issue):")
        for key, target, value, ok in check_targets(results["ours"]):
            print(f"  {'MET ' if ok else 'MISSED'} {key}: {value if value is None else round(value, 2)} ({target})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (out / "table.md").write_text(text)
    if args.chart:
        chart(results, Path(args.chart))
        print(f"chart: {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
