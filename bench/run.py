#!/usr/bin/env python3
"""`make bench`: sidecar-killer against the alternatives, measured side by side in one run.

Each wrapper runs the same static test app (bench/app.c) against the same fake Istio sidecar
(tests/helpers/fake_sidecar.py, in this process) on the fixed ports 15021/15020, inside a
private network and mount namespace (`unshare -n -m`: the script re-executes itself there;
needs root) whose /tmp is a fresh tmpfs that only the wrappers write to. Rounds interleave the
wrappers, so load on the machine hits them alike. Per wrapper and round:

  job      proxy already ready, the app exits 0 at once: wall time, wrapper start to exit, and
           CPU time (user+sys of the whole wrapper tree, app included: wait4's rusage)
  latency  the proxy answers 503 for 0.5 s after it starts listening, then 200; the wrapper
           starts a random 0-0.3 s after it (so its probe schedule has a random phase):
           time from the ready moment to the app's start
  run      the app sleeps: the processes of the wrapper chain (every one but the app), their
           RSS and PSS, and the bytes that have appeared under an empty $TMPDIR, an empty
           working directory and /tmp, sampled while it runs and again after it exits
  cpu100m  `docker run --cpus 0.1` of a FROM scratch image holding the wrapper and the app
           (the app exits 0 at once), minus the same run of the app alone just before it:
           the start delay under a 100m CPU limit. The proxy is the same fake sidecar, ready,
           listening in the network namespace the containers join (as a pod's containers
           share one): the whole job, probe and quit included
  version  builds of ours only: CPU time of `--version`, and of a bare `python3.11 -I -S -c pass`
           (Debian's: the interpreter the binary links, started with nothing of ours)
  exit3    the app exits 3: the wrapper's exit code
  flood    the proxy is not ready for 2 s: not-ready answers per second while the wrapper polls
           (503s to /healthz/ready, each one a warning line in pilot-agent's log; or, to a peer
           that polls Envoy's /server_info, a state other than LIVE)
  sigterm  the wrapper is PID 1 of a PID namespace, as in a container; SIGTERM to it while the
           app sleeps with default handlers: exit code, was the app stopped, was the proxy quit

`--variant NAME=PATH` adds another build of ours to the same run (e.g. an earlier release as
`before`: the job-overhead ratio compares ours with it, in the same run).
`--peer NAME=COMMAND` (repeatable; or several in one, separated by an unquoted `;`) adds another
project's wrapper beside ours: COMMAND is a shell-like word list, leading VAR=VALUE words are
its environment, then its executable (a static binary, for the container scenario), then its
arguments; the app's command line follows them. Every scenario runs it with that environment
(cpu100m: `docker run -e VAR=VALUE`). E.g. scuttle, which polls Envoy's admin /server_info:
  --peer 'scuttle=ENVOY_ADMIN_API=http://127.0.0.1:15021 ISTIO_QUIT_API=http://127.0.0.1:15020 /path/to/scuttle'
(the fake sidecar's ready port answers /server_info too: LIVE from the moment /healthz/ready
turns 200). Peers are compared, not checked against our targets; the first one is ours' yardstick:
ours' job overhead must stay within twice its own.
Every binary is copied to bench/out/bin/ first: a rebuild during the run changes nothing.
It prints one table (median, min and max per figure) with the targets (must and
moonshot) checked on ours' medians, and writes bench/out/results.json, bench/out/table.md and
bench/out/bench.png (`--chart docs/bench.png` redraws the docs' picture). A checkout or --out
under /tmp works: they are bound back into the run's private /tmp.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import (BENCH, Containers, REPO, become_subreaper, enter_namespace, git_head,
    layer_tar, loadavg, private_tmp, wait_for_quiet, wrappers)
from report import chart, summary, table
from scenarios import Bench, SCENARIOS


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--ours", default=str(REPO / "dist" / "sidecar-killer"))
    parser.add_argument("--wrappers", default="ours,busybox,busybox-wait,floor",
                        type=lambda text: [name for name in text.split(",") if name])
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=PATH",
                        help="also run this build of ours (repeatable); `before` is the earlier "
                             "build that the job-overhead ratio compares with")
    parser.add_argument("--peer", action="append", default=[], metavar="NAME=COMMAND",
                        help="also run another project's wrapper (repeatable): COMMAND is "
                             "[VAR=VALUE...] EXECUTABLE [ARGS...] (shell words); the app's command "
                             "line follows ARGS; several peers in one value: separated by ';'")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), type=lambda text: text.split(","))
    parser.add_argument("--quiet-load", type=float, default=0.0,
                        help="before each round, wait (up to --quiet-wait s) until the 1-min load is below this")
    parser.add_argument("--quiet-wait", type=float, default=600)
    parser.add_argument("--chart", default=str(BENCH / "out" / "bench.png"),
                        help="'' for none; docs/bench.png is the docs' picture, redrawn only when asked")
    parser.add_argument("--out", default=str(BENCH / "out"))
    parser.add_argument("--replot", metavar="RESULTS_JSON", help="only redraw the chart from a results.json")
    args = parser.parse_args(argv)
    if args.replot:
        chart(json.loads(Path(args.replot).read_text())["results"], Path(args.chart))
        return 0
    enter_namespace(argv, __file__)
    become_subreaper()

    chosen = wrappers(args)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    args.out = str(out)
    for wrapper in chosen:
        wrapper.snapshot(out / "bin" / wrapper.name)
    private_tmp(keep=(REPO, out))  # after the copies: a binary given under /tmp stays reachable
    meta = {"rounds": args.rounds, "load_before": loadavg(), "cpus": os.cpu_count(), "repo": git_head(),
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_rounds": []}
    raw = {w.name: {} for w in chosen}
    work = Path(tempfile.mkdtemp(prefix="sk-bench-"))
    containers = None
    try:
        if "cpu100m" in args.scenarios:
            containers = Containers(chosen, BENCH / "build" / "app", out / "stderr")
        bench = Bench(args, work, containers)
        for round_ in range(args.rounds):
            if args.quiet_load:
                wait_for_quiet(args.quiet_load, args.quiet_wait)
            meta["load_rounds"].append(float(loadavg().split()[0]))
            order = chosen[round_ % len(chosen):] + chosen[:round_ % len(chosen)]  # rotate who goes first
            for wrapper in order:
                for key, value in bench.measure(wrapper, args.scenarios).items():
                    raw[wrapper.name].setdefault(key, []).append(value)
            print(f"bench: round {round_ + 1}/{args.rounds} done (load {loadavg()})", file=sys.stderr, flush=True)
    finally:
        if containers:
            containers.close()
        shutil.rmtree(work, ignore_errors=True)
    meta["load_after"] = loadavg()

    before = raw.get("before", {}).get("job_ms")
    python = raw.get("ours", {}).get("python_cpu_ms")
    peer = next((raw[w.name].get("job_ms") for w in chosen if w.kind == "peer"), None)
    results = {}
    for wrapper in chosen:
        if before and "job_ms" in raw[wrapper.name]:
            raw[wrapper.name]["job_ratio"] = [ms / statistics.median(before) for ms in raw[wrapper.name]["job_ms"]]
        if peer and "job_ms" in raw[wrapper.name]:
            raw[wrapper.name]["job_peer_ratio"] = [ms / statistics.median(peer) for ms in raw[wrapper.name]["job_ms"]]
        if python and "version_cpu_ms" in raw[wrapper.name]:
            raw[wrapper.name]["version_ratio"] = [ms / statistics.median(python)
                                                  for ms in raw[wrapper.name]["version_cpu_ms"]]
        size = wrapper.binary.stat().st_size
        layer = layer_tar(wrapper.layer)
        results[wrapper.name] = {
            "label": wrapper.label, "kind": wrapper.kind, "binary": str(wrapper.binary), "sha256": wrapper.sha256,
            **({"env": wrapper.env, "command": wrapper.words} if wrapper.kind == "peer" else {}),
            "binary_bytes": size, "layer_tar_bytes": len(layer),
            "layer_gzip_bytes": len(gzip.compress(layer, 6, mtime=0)), "raw": raw[wrapper.name],
            "stats": {**{key: summary(values) for key, values in raw[wrapper.name].items()},
                      "binary_bytes": summary([size])},
        }
    text = table(results, meta)
    print(text)
    for wrapper in chosen:
        print(f"  {wrapper.name}: {wrapper.binary.stat().st_size} bytes, sha256 {wrapper.sha256[:16]}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (out / "table.md").write_text(text)
    if args.chart:
        chart(results, Path(args.chart))
        print(f"chart: {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
