"""Waiting for the proxy: prompt, never flooding its log, bounded, ended by a stop signal;
the built-in URLs on their real ports. Runs `python -m entrypoint` or SK_TEST_BIN."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers.lifecycle import NETNS, SH, free_port, in_netns, urls
from tests.helpers.process import REPO, run, sigecho, slow, wait_until

pytestmark = pytest.mark.builds("python", "binary", "emulated")


# -- 1. readiness -----------------------------------------------------------------------
def test_app_starts_only_once_the_proxy_is_ready_and_quit_follows(sidecar, tmp_path):
    fake = sidecar(ready_after=slow(0.6))
    marker = tmp_path / "started"
    w = run(urls(fake, "--", SH, "-c", f'echo app; date +%s.%N > {marker}; exit 0'))
    assert w.returncode == 0
    assert w.stdout == "app"
    ready_since = fake._started + slow(0.6)
    assert fake.requests_for("ready", 503), "the proxy was polled while not ready"
    assert fake.requests_for("ready", 200)
    assert not [r for r in fake.requests_for("ready", 200) if r.at < ready_since]
    assert len(fake.quits) == 1 and fake.quits[0].status == 200
    assert "proxy ready after" in w.stderr and "proxy quit" in w.stderr


def test_waits_for_a_proxy_that_is_not_listening_yet(sidecar):
    fake = sidecar(ready_port=free_port(), listen_after=0.4, ready_after=0.6)
    w = run(urls(fake, "--", "true"))
    assert w.returncode == 0
    assert len(fake.quits) == 1


def test_polling_is_prompt_and_never_floods_the_sidecar_log(sidecar, wrappers):
    """At most 10 non-200 answers a second; the app starts soon after the proxy turns ready."""
    fake = sidecar(ready_after=1.5)
    w = wrappers(urls(fake, "--", *sigecho("--lifetime", "0")))
    assert w.wait() == 0
    not_ready = fake.requests_for("ready", 503)
    first, last = not_ready[0].at, not_ready[-1].at
    # Timestamps are taken by the server's threads, so allow a few ms of jitter per request;
    # the exact schedule is checked with a fake clock in test_units.
    assert len(not_ready) <= (last - first + 0.05) * 10 + 1
    gaps = [b.at - a.at for a, b in zip(not_ready, not_ready[1:])]
    assert min(gaps) >= 0.05, "probes after a non-200 answer must not come every 20 ms"
    ready_at = fake.requests_for("ready", 200)[0].at
    # Within about one 100 ms polling interval (headroom for a loaded machine; medians: make bench).
    assert ready_at - (fake._started + 1.5) < 0.35


@pytest.mark.parametrize("mode, expected", [("fail", 69), ("run", 5)])
def test_readiness_timeout(sidecar, tmp_path, mode, expected):
    fake = sidecar(ready_after=3600)
    marker = tmp_path / "ran"
    w = run(urls(fake, "--ready-timeout", "0.5", "--on-ready-timeout", mode, "--",
                 SH, "-c", f"touch {marker}; exit 5"))
    assert w.returncode == expected
    assert marker.exists() is (mode == "run")
    assert len(fake.quits) == 1  # the pod can finish either way
    # No probe starts at the deadline and each gets its whole budget, so the last answer is the
    # proxy's own; the wait ends at 0.5 s, later only by a probe in flight when loaded.
    assert re.search(r"proxy not ready after 0\.[5-9]s \(last answer: HTTP 503\)", w.stderr), w.stderr


def test_no_sidecar_at_all_is_said_plainly_and_the_quit_is_not_retried(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    w = run(["--ready-url", dead + "/healthz/ready", "--quit-url", dead + "/quitquitquit",
             "--ready-timeout", "0.3", "--quit-timeout", "20", "--on-ready-timeout", "run", "--", "true"])
    elapsed = time.monotonic() - started
    assert w.returncode == 0
    assert "every connection refused): is the sidecar injected" in w.stderr
    assert "no proxy to quit: nothing listens at" in w.stderr and "could not quit" not in w.stderr
    assert elapsed < 5, "a quit that cannot land must not use the whole --quit-timeout"


# -- meshed or not: --no-proxy-grace ---------------------------------------------------------
def test_no_proxy_at_all_runs_the_app_after_the_grace_and_quits_nothing():
    ready, quit_port = free_port(), free_port()
    started = time.monotonic()
    w = run(["--ready-url", f"http://127.0.0.1:{ready}/healthz/ready",
             "--quit-url", f"http://127.0.0.1:{quit_port}/quitquitquit", "--no-proxy-grace", "0.4",
             "--quit-timeout", "20", "--", SH, "-c", "echo ran; exit 7"])
    elapsed = time.monotonic() - started
    assert w.returncode == 7 and w.stdout == "ran"
    assert f"no proxy in this pod: nothing listened at 127.0.0.1:{ready}, 127.0.0.1:{quit_port} for 0.4s" \
        in w.stderr, w.stderr
    assert "quit" not in w.stderr.replace("quitting", "").replace("/quitquitquit", ""), "no quit attempted"
    assert elapsed < 0.4 + slow(1.5), "promptly after the grace"


def test_a_proxy_that_starts_late_within_the_grace_is_waited_for_and_quit(sidecar, tmp_path):
    """The kubelet started the proxy's container after the app's (e.g. pulling its image)."""
    fake = sidecar(ready_port=free_port(), quit_port=free_port(), start_after=0.6, ready_after=0.3)
    marker = tmp_path / "started"
    w = run(urls(fake, "--no-proxy-grace", "2", "--", sys.executable, "-c",
                 f"import time; open({str(marker)!r}, 'w').write(repr(time.monotonic()))"))
    assert w.returncode == 0
    assert float(marker.read_text()) >= fake.requests_for("ready", 200)[0].at, "the app waited for the proxy"
    assert len(fake.quits) == 1 and fake.quits[0].at >= float(marker.read_text())
    assert "no proxy" not in w.stderr


def test_an_agent_listening_before_envoy_means_a_proxy_is_there(sidecar):
    """pilot-agent's 15020 listens from the start; Envoy's 15021 only once configured."""
    fake = sidecar(ready_port=free_port(), listen_after=0.8, ready_after=1.0)
    w = run(urls(fake, "--no-proxy-grace", "0.3", "--", SH, "-c", "exit 4"))
    assert w.returncode == 4
    assert fake.requests_for("ready", 200) and len(fake.quits) == 1
    assert "no proxy" not in w.stderr


# -- 6. signals while waiting -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"])
def test_stop_signal_while_waiting_does_not_start_the_app(sidecar, wrappers, tmp_path, name):
    fake = sidecar(ready_after=3600)
    marker = tmp_path / "ran"
    w = wrappers(urls(fake, "--", SH, "-c", f"touch {marker}"))
    wait_until(lambda: fake.requests_for("ready", 503), what="a readiness probe")
    os.kill(w.pid, getattr(signal, name))
    assert w.wait(10) == 128 + getattr(signal, name)
    assert not marker.exists()
    assert len(fake.quits) == 1


def test_other_signals_while_waiting_are_not_fatal(sidecar, wrappers):
    fake = sidecar(ready_after=slow(0.8))
    w = wrappers(urls(fake, "--", SH, "-c", "exit 6"))
    wait_until(lambda: fake.requests_for("ready", 503), what="a readiness probe")
    for name in ("SIGUSR1", "SIGUSR2", "SIGALRM", "SIGPIPE", "SIGWINCH"):
        os.kill(w.pid, getattr(signal, name))
    assert w.wait(10) == 6


# -- built-in defaults, on the real ports, in a private network namespace ---------------------------
@pytest.mark.skipif(not NETNS and not os.environ.get("CI"), reason="needs root for unshare -n")
@pytest.mark.parametrize("mesh, sidecar_args", [
    ("istio", ["--ready-after", "0.3"]),
    ("linkerd", ["--mesh", "linkerd", "--ready-port", "4191", "--ready-after", "0.3"]),
])
def test_default_urls_on_the_real_ports(tmp_path, mesh, sidecar_args):
    log = tmp_path / "sidecar.jsonl"
    script = in_netns(sidecar_args, ["--mesh", mesh, "--", SH, "-c", "exit 3"])
    result = subprocess.run(["unshare", "-n", SH, "-c", script], capture_output=True, timeout=60,
                            env={**os.environ, "SIDECAR_LOG": str(log), "PYTHONPATH": str(REPO)})
    assert result.returncode == 3, result.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    ready_path = "/ready" if mesh == "linkerd" else "/healthz/ready"
    quit_path = "/shutdown" if mesh == "linkerd" else "/quitquitquit"
    assert any(e.get("path") == ready_path and e.get("status") == 200 for e in events)
    assert [e for e in events if e.get("path") == quit_path] == \
        [{**[e for e in events if e.get("path") == quit_path][0], "method": "POST", "status": 200}]
    assert events[-1]["event"] == "exited"


