#!/usr/bin/env python3
"""`make demo`: a local "pod" in Docker, and its timeline.

A fake istio-proxy container (answers as Istio does: 503 until ready after 1.5 s, then 200;
POST /quitquitquit makes it exit 0) and the app container from the FROM scratch image
(sidecar-killer as ENTRYPOINT, the example /app as CMD) sharing its network namespace, as
containers of one pod do. Prints what happened, when, read back from both containers' logs.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime

APP_IMAGE = "sidecar-killer:scratch"
SIDECAR_IMAGE = "sidecar-killer:test-sidecar"  # tests/docker/sidecar, `make fake-proxy`
APP_EXIT = "3"  # the app's own exit code, which the pod must report


def docker(*args: str, check: bool = True) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        sys.exit(f"demo: docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def logs(container: str) -> list:
    """(time, line) for each log line, stdout and stderr alike, as Docker stamped them."""
    out = subprocess.run(["docker", "logs", "--timestamps", container], capture_output=True,
                         text=True, timeout=60)
    lines = []
    for raw in (out.stdout + out.stderr).splitlines():
        stamp, _, line = raw.partition(" ")
        seconds = datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()
        lines.append((seconds, line))
    return lines


def timeline(sidecar: str, app: str, app_code: int, sidecar_code: int, started: float) -> list:
    events = []
    ready_seen = False
    for _stamped, line in logs(sidecar):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        # The fake proxy prints in batches: place each event by the time it stamped itself.
        at = record["wall"]
        if record.get("event") == "started":
            events.append((at, "istio-proxy", "proxy started (not ready yet: 503 to readiness probes)"))
        elif record.get("path") == "/healthz/ready" and record.get("status") == 200 and not ready_seen:
            ready_seen = True
            events.append((at, "istio-proxy", "proxy ready (GET :15021/healthz/ready -> 200)"))
        elif record.get("path") == "/quitquitquit":
            events.append((at, "istio-proxy", f"POST :15020/quitquitquit -> {record['status']}"))
        elif record.get("event") == "exited":
            events.append((at, "istio-proxy", "proxy exited"))
    for at, line in logs(app):
        who = "sidecar-killer" if line.startswith("sidecar-killer:") else "app"
        events.append((at, who, line.removeprefix("sidecar-killer: ")))
    events.sort()
    rows = [f"{at - started:7.3f}s  {who:<15} {what}" for at, who, what in events]
    rows.append(f"{'':8}  {'pod':<15} done: app container exited {app_code}, istio-proxy exited {sidecar_code}")
    return rows


def main() -> int:
    for image in (APP_IMAGE, SIDECAR_IMAGE):
        if not docker("images", "-q", image).strip():
            sys.exit(f"demo: image {image} is missing: run `make demo`, which builds it")
    started = time.time()
    sidecar = docker("run", "-d", "--label", "sidecar-killer-demo=1", SIDECAR_IMAGE,
                     "--ready-after", "1.5").strip()
    app = None
    try:
        app = docker("run", "-d", "--label", "sidecar-killer-demo=1", f"--network=container:{sidecar}",
                     "-e", f"APP_EXIT={APP_EXIT}", APP_IMAGE).strip()
        app_code = int(docker("wait", app).strip())
        sidecar_code = int(docker("wait", sidecar).strip())
        print(f"A pod of two containers: fake istio-proxy + {APP_IMAGE} "
              f"(ENTRYPOINT sidecar-killer, CMD /app exiting {APP_EXIT})\n")
        print("\n".join(timeline(sidecar, app, app_code, sidecar_code, started)))
        ok = app_code == int(APP_EXIT) and sidecar_code == 0
        print("\nThe pod completed: the proxy was quit and the app's exit code kept." if ok else
              "\nUnexpected: see the timeline above.")
        return 0 if ok else 1
    finally:
        docker("rm", "-f", *(c for c in (app, sidecar) if c), check=False)


if __name__ == "__main__":
    sys.exit(main())
