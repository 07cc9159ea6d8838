#!/usr/bin/env python3
"""Where the static binary's milliseconds and megabytes go (docs/performance.md).

    bench/levers.sh build                                   # first: its profile builds
    bench/.venv/bin/python bench/profile.py [--runs N]      (root)

1. CPU time (user+sys, from wait4) of a start cut short after each stage: the interpreter
   alone, then + socket, + email.parser, + http.client, + our package, then the whole job
   (proxy ready, the app exits at once). The profile builds of bench/levers.sh are the
   shipped build and the stored-bytecode one with a staged __main__ (SK_PROFILE_STAGE),
   the same modules otherwise: their difference is the inflate.
2. The frozen modules a job imports, inflated and unmarshalled here, in this process
   (compiled at optimize 2 as build/freeze_modules.py does): what that costs per start.
3. Memory: the wrapper's resident pages while the app runs, by mapping, and its peak.
4. Size: the binary's segments and the frozen bytecode in it.
"""
from __future__ import annotations

import argparse
import json
import marshal
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import run as bench  # noqa: E402  (bench/run.py: namespace, sidecar, wait4)

LEVERS = BENCH / "out" / "levers"
STAGES = (  # SK_PROFILE_STAGE, what the start has done when it stops
    ("interpreter", "interpreter start (its own imports: encodings, io, abc, codecs, os, ...)"),
    ("socket", "+ import socket"),
    ("email", "+ import email.parser (what http.client needs of email)"),
    ("http.client", "+ import http.client"),
    ("entrypoint", "+ our package (entrypoint.cli and what it imports)"),
    ("", "+ the job: config, one probe, spawn, wait, one quit, exit"),
)


def start_cpu(binary: Path, stage: str, app: str, extra_env: dict | None = None) -> tuple:
    """CPU ms (user+sys, the app included) and stderr of one start stopped at ``stage``."""
    env = {"PATH": os.defpath, "SK_PROFILE_STAGE": stage, **(extra_env or {})}
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([str(binary), "--", app, "0"], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
        code, usage = bench.finish(proc)
        err.seek(0)
        text = err.read().decode(errors="replace")
    if code != 0:
        sys.exit(f"profile: {binary} stage {stage or 'job'!r} exited {code}: {text}")
    return (usage.ru_utime + usage.ru_stime) * 1000, text


def time_profile(builds: dict, runs: int, app: str):
    cpu = {(name, stage): [] for name in builds for stage, _ in STAGES}
    with bench.FakeSidecar(ready_port=bench.READY_PORT, quit_port=bench.QUIT_PORT):
        for _ in range(runs):  # interleaved: load hits every stage alike
            for name, binary in builds.items():
                for stage, _ in STAGES:
                    cpu[name, stage].append(start_cpu(binary, stage, app)[0])
    print(f"1. CPU time per start, user+sys, by stage (median (min) of {runs} starts each, ms;"
          f" load {bench.loadavg()}):")
    names = list(builds)
    print(f"   {'stage':<72}" + "".join(f"{n:>22}" for n in names) + "   inflate")
    previous = {n: 0.0 for n in names}
    for stage, text in STAGES:
        cells, medians = [], {}
        for n in names:
            values = cpu[n, stage]
            medians[n] = statistics.median(values)
            cells.append(f"{medians[n]:6.1f} ({min(values):5.1f}) +{medians[n] - previous[n]:5.1f}")
        inflate = medians[names[0]] - medians[names[-1]] if len(names) > 1 else 0
        print(f"   {text:<72}" + "".join(f"{c:>22}" for c in cells) + f"   {inflate:5.1f}")
        previous = medians


def modules_of_job(binary: Path, app: str) -> list:
    """The modules a job imports, as the profile build lists them at its exit."""
    with bench.FakeSidecar(ready_port=bench.READY_PORT, quit_port=bench.QUIT_PORT):
        _, text = start_cpu(binary, "", app, {"SK_PROFILE_MODULES": "1"})
    line = next(line for line in text.splitlines() if line.startswith("modules: "))
    return line.split()[1:]


def unpack_profile(build_dir: Path, imported: list, repeat: int = 50):
    """Inflate and unmarshal, timed here, of the frozen modules a job imports."""
    spec = json.loads((build_dir / "modules.json").read_text())
    lib = os.path.dirname(os.__file__)
    paths = dict(spec["modules"])
    paths.update({"_frozen_importlib": f"{lib}/importlib/_bootstrap.py",
                  "_frozen_importlib_external": f"{lib}/importlib/_bootstrap_external.py",
                  "zipimport": f"{lib}/zipimport.py", "__main__": spec["entry"]})
    packed = []
    for name in imported:
        if name not in paths:
            continue  # a built-in C module
        path = paths[name].replace("/levers/", f"{LEVERS}/", 1)
        if not os.path.exists(path):  # built in the Debian stage: its stdlib, same version here
            path = os.path.join(lib, os.path.relpath(paths[name], "/usr/lib/python3.11"))
        code = compile(Path(path).read_bytes(), f"<frozen {name}>", "exec", optimize=2, dont_inherit=True)
        data = marshal.dumps(code)
        packed.append((name, zlib.compress(data, 9), len(data)))
    inflate = unmarshal = 0.0
    for _ in range(repeat):
        for _name, data, _size in packed:
            started = time.perf_counter()
            raw = zlib.decompress(data)
            middle = time.perf_counter()
            marshal.loads(raw)
            inflate += middle - started
            unmarshal += time.perf_counter() - middle
    frozen = len(packed)
    print(f"\n2. A job imports {len(imported)} modules: {frozen} frozen ones "
          f"({sum(len(d) for _, d, _ in packed) / 1e3:.0f} kB compressed, "
          f"{sum(s for _, _, s in packed) / 1e3:.0f} kB of marshal data), the rest built in (C).")
    print(f"   Per start, timed here: inflate {inflate / repeat * 1000:.1f} ms, unmarshal "
          f"{unmarshal / repeat * 1000:.1f} ms (python {sys.version.split()[0]}, mean of {repeat} passes: "
          "warm caches, so a lower bound of the binary's cold first import).")
    biggest = sorted(packed, key=lambda p: -p[2])[:8]
    print("   biggest: " + ", ".join(f"{n} {s / 1e3:.0f} kB" for n, _, s in biggest))
    groups = {"email": 0, "http": 0, "entrypoint": 0}
    for name, _, size in packed:
        top = name.split(".")[0]
        if top in groups:
            groups[top] += size
    print("   marshal data of " + ", ".join(f"{k}.*: {v / 1e3:.0f} kB" for k, v in groups.items()))


def memory_profile(binary: Path, app: str):
    """The wrapper's resident memory by mapping, while the app sleeps."""
    with tempfile.TemporaryDirectory() as work, \
            bench.FakeSidecar(ready_port=bench.READY_PORT, quit_port=bench.QUIT_PORT):
        stamp = bench.Stamp(Path(work))
        proc = subprocess.Popen([str(binary), "--", app, "-t", str(stamp.path), "-s", "800", "0"],
                                env={"PATH": os.defpath}, stderr=subprocess.DEVNULL)
        stamp.wait(10)
        time.sleep(0.3)  # as bench/run.py samples: the supervisor has settled
        maps, name, perms = {}, "", ""
        with open(f"/proc/{proc.pid}/smaps") as smaps:
            for line in smaps:
                fields = line.split()
                if "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
                    perms = fields[1]
                    name = fields[5] if len(fields) > 5 else "[anonymous]"
                    name = "the binary" if name == str(binary) else name
                elif fields[0] in ("Rss:", "Anonymous:"):
                    entry = maps.setdefault((name, perms), {"Rss:": 0, "Anonymous:": 0})
                    entry[fields[0]] += int(fields[1])
        with open(f"/proc/{proc.pid}/status") as status:
            peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
        bench.finish(proc)
    total = sum(e["Rss:"] for e in maps.values())
    print(f"\n3. Memory while the app runs: RSS {total / 1024:.1f} MiB (peak during start-up, VmHWM: "
          f"{int(peak) / 1024:.1f} MiB); by mapping:")
    for (name, perms), entry in sorted(maps.items(), key=lambda item: -item[1]["Rss:"]):
        if entry["Rss:"] >= 64:
            print(f"   {entry['Rss:'] / 1024:6.2f} MiB  {name} {perms}"
                  + (f" ({entry['Anonymous:'] / 1024:.2f} MiB written to)" if entry["Anonymous:"] else ""))


def size_profile(builds: dict):
    print("\n4. Size:")
    for name, binary in builds.items():
        text, data, bss = subprocess.run(["size", str(binary)], capture_output=True, text=True,
                                         check=True).stdout.splitlines()[1].split()[:3]
        print(f"   {name}: {binary.stat().st_size / 1e6:.2f} MB file; text {int(text) / 1e6:.2f} MB (code, "
              f"read-only data, the frozen bytecode), data {int(data) / 1e6:.2f} MB, bss {int(bss) / 1e6:.2f} MB")
    spec = json.loads((next(iter(builds.values())).parent / "modules.json").read_text())
    print(f"   {len(spec['modules'])} modules frozen in; {len(spec['builtins'])} C modules the analysis "
          "reached built in (bench/levers.sh compares the frozen tables of libpython itself)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25)
    args = parser.parse_args(argv)
    builds = {"zlib 9 (shipped)": LEVERS / "profile" / "sidecar-killer",
              "stored": LEVERS / "profile-stored" / "sidecar-killer"}
    for binary in builds.values():
        if not binary.exists():
            sys.exit(f"profile: {binary} is missing: run bench/levers.sh build first")
    bench.enter_namespace(argv if argv is not None else sys.argv[1:], script=__file__)
    app = str(BENCH / "build" / "app")
    time_profile(builds, args.runs, app)
    shipped = builds["zlib 9 (shipped)"]
    unpack_profile(shipped.parent, modules_of_job(shipped, app))
    memory_profile(shipped, app)
    size_profile(builds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
