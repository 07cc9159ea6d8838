#!/usr/bin/env python3
"""Where the frozen binary's milliseconds and megabytes go (docs/performance.md, issue 5).

    bench/.venv/bin/python bench/profile.py [BINARY] [--runs N]    (root; needs strace)

1. time: N jobs against the fake sidecar (proxy ready, the app exits at once) under
   `strace -f` tracing only process, mkdir and connect events; prints the median of each
   phase of the chain. strace slows the whole by some 10-20 %: read the shares, not the sums.
2. /tmp: the files each layer extracts, sampled while the app runs.
3. size: the members of staticx's archive and of PyInstaller's, stored and unpacked.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import run as bench  # noqa: E402  (bench/run.py: namespace, sidecar, app)

PHASES = (
    ("staticx: unpack its archive to /tmp, exec the PyInstaller bootloader", "start", "exec_pyi"),
    ("PyInstaller parent: unpack libpython & co. to /tmp, fork+exec the child", "exec_pyi", "exec_python"),
    ("Python child: interpreter start, imports, config, until the first probe", "exec_python", "connect_ready"),
    ("probe answered 200, app spawned", "connect_ready", "exec_app"),
    ("app runs (exits 0 at once)", "exec_app", "app_exit"),
    ("quit POSTed, Python exits", "app_exit", "python_exit"),
    ("PyInstaller parent: delete its /tmp files, exit", "python_exit", "pyi_exit"),
    ("staticx: delete its /tmp files, exit", "pyi_exit", "staticx_exit"),
)


def events(trace: str) -> dict:
    """Phase marks (seconds) from one `strace -f -ttt` log of the chain."""
    marks, roles, execs = {}, {}, 0
    for line in trace.splitlines():
        match = re.match(r"(\d+) +(\d+\.\d+) (.*)", line)
        if not match:
            continue
        pid, at, call = int(match[1]), float(match[2]), match[3]
        marks.setdefault("start", at)
        if call.startswith("execve(") and (call.endswith("= 0") or "unfinished" in call):
            execs += 1  # 1 staticx, 2 PyInstaller's bootloader, 3 the same as Python child, 4 the app
            role = {1: "staticx", 2: "exec_pyi", 3: "exec_python", 4: "exec_app"}.get(execs)
            if role:
                marks.setdefault(role, at)
                roles[pid] = role
        elif call.startswith("connect(") and "15021" in call:
            marks.setdefault("connect_ready", at)
        elif call.startswith("+++ exited") and pid in roles:
            marks[{"staticx": "staticx_exit", "exec_pyi": "pyi_exit", "exec_python": "python_exit",
                   "exec_app": "app_exit"}[roles[pid]]] = at
    return marks


def time_profile(binary: str, runs: int, app: str):
    cost = {name: [] for name, _, _ in PHASES}
    totals = []
    with bench.FakeSidecar(ready_port=bench.READY_PORT, quit_port=bench.QUIT_PORT):
        for _ in range(runs):
            with tempfile.NamedTemporaryFile("r", suffix=".strace") as log:
                started = time.monotonic()
                subprocess.run(["strace", "--seccomp-bpf", "-f", "-ttt", "-e", "trace=execve,connect",
                                "-e", "signal=none", "-o", log.name, binary, "--", app, "0"],
                               env={"PATH": os.environ.get("PATH", os.defpath)}, stderr=subprocess.DEVNULL,
                               check=True)
                totals.append((time.monotonic() - started) * 1000)
                marks = events(Path(log.name).read_text())
            for name, begin, end in PHASES:
                if begin in marks and end in marks:
                    cost[name].append((marks[end] - marks[begin]) * 1000)
    print(f"time (median of {runs} jobs under strace, total {statistics.median(totals):.0f} ms):")
    for name, values in cost.items():
        if values:
            print(f"  {statistics.median(values):6.1f} ms  {name}")


def tmp_profile(binary: str, app: str):
    tmpdir = Path(tempfile.mkdtemp(prefix="sk-profile-"))
    stamp = tmpdir / "started"
    work = tmpdir / "tmp"
    work.mkdir()
    with bench.FakeSidecar(ready_port=bench.READY_PORT, quit_port=bench.QUIT_PORT):
        proc = subprocess.Popen([binary, "--", app, "-t", str(stamp), "-s", "500", "0"], stderr=subprocess.DEVNULL,
                                env={"PATH": os.environ.get("PATH", os.defpath), "TMPDIR": str(work)})
        while not stamp.exists():
            time.sleep(0.005)
        files = sorted(((p.lstat().st_size, str(p.relative_to(work))) for p in work.rglob("*")
                        if p.is_file() and not p.is_symlink()), reverse=True)
        proc.wait()
    print(f"/tmp while the app runs: {sum(size for size, _ in files) / 1e6:.2f} MB in {len(files)} files")
    for size, name in files:
        if size > 30000:
            print(f"  {size / 1e6:6.2f} MB  {name}")


def size_profile(binary: str):
    data = Path(binary).read_bytes()
    sections = subprocess.run(["objdump", "-h", binary], capture_output=True, text=True, check=True).stdout
    match = re.search(r"\.staticx\.archive\s+([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", sections)
    if not match:
        print("size: no .staticx.archive section")
        return
    size, offset = int(match[1], 16), int(match[2], 16)
    archive = data[offset:offset + size]
    packing = "xz" if archive.startswith(b"\xfd7zXZ\x00") else "not compressed"
    print(f"size: {len(data) / 1e6:.2f} MB = staticx bootloader {offset / 1e6:.2f} MB "
          f"+ its archive {size / 1e6:.2f} MB ({packing})")
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            members = sorted(((m.size, m.name) for m in tar.getmembers() if m.isfile()), reverse=True)
            inner = tar.extractfile("sidecar-killer").read()
    except (tarfile.TarError, KeyError, AttributeError):
        return
    for member_size, name in members:
        print(f"  {member_size / 1e6:6.2f} MB  {name}")
    reader = Path(__file__).resolve().parent / "out" / "levers" / "work" / "venv" / "bin" / "python"
    if not reader.exists():
        print("  (PyInstaller's archive: run bench/levers.sh build first, for its PyInstaller)")
        return
    with tempfile.NamedTemporaryFile(suffix=".pyi") as exe:
        exe.write(inner)
        exe.flush()
        listing = subprocess.run([str(reader), "-c", (
            "import sys\nfrom PyInstaller.archive.readers import CArchiveReader\n"
            "a = CArchiveReader(sys.argv[1])\n"
            "for n, (o, c, u, f, t) in sorted(a.toc.items(), key=lambda x: -x[1][2]):\n"
            "    print(f'{c / 1e6:8.2f} MB stored {u / 1e6:6.2f} MB unpacked  {n}')\n"), exe.name],
            capture_output=True, text=True).stdout
    print("  inside sidecar-killer (PyInstaller's archive):")
    for line in listing.splitlines()[:12]:
        print("  " + line)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", nargs="?", default=str(bench.REPO / "dist" / "sidecar-killer"))
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    bench.enter_namespace(argv if argv is not None else sys.argv[1:], script=__file__)
    binary = str(Path(args.binary).resolve())
    app = str(BENCH / "build" / "app")
    time_profile(binary, args.runs, app)
    tmp_profile(binary, app)
    size_profile(binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
