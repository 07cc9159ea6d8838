"""The lifecycle against a real Envoy posing as istio-proxy.

Envoy runs with tests/envoy/istio-proxy.yaml in a private network namespace per test (a
"pod", tests/helpers/envoy.py), so the wrapper's built-in default URLs reach it:
:15021/healthz/ready (relayed to the admin's /ready) and :15020/quitquitquit (relayed to the
admin's /quitquitquit). Envoy is not ready for ~2 s after it starts, as istio-proxy is
while it waits for its first configuration.

Where a plain Envoy differs from istio-proxy, and what that means here:
- Envoy opens 15021 and 15020 only when it turns LIVE: until then they refuse connections,
  so the wrapper sees no 503 on 15021 (pilot-agent answers 503s there in Istio). The poll
  rate against real 503s is measured on the admin's /ready instead.
- A quit relayed through 15020 makes Envoy exit before it answers: the wrapper gets the
  connection closed without a response and must judge the quit by its effect.
- A quit during Envoy's start-up is refused (15020 is not open yet); pilot-agent would
  take it. What pilot-agent alone does (403, 405, 503s on 15021) is covered against the
  fake sidecar in test_waiting.py and test_exit_and_quit.py.

Runs `python -m entrypoint`, or the executable named by SK_TEST_BIN. Needs root for
the namespaces; without it these tests skip, or fail when CI is set.
"""
import datetime
import json
import os
import shutil
import signal
import statistics
import time

import pytest

from tests.helpers.envoy import ADMIN_PORT, AGENT_PORT, READY_PORT, Pod, can_make_pods

pytestmark = pytest.mark.builds("python", "binary")  # not emulated: qemu-user's own threads and limits are not the binary's

SH = shutil.which("sh")
ADMIN_READY = f"http://127.0.0.1:{ADMIN_PORT}/ready"
QUIT_PATH = "/quitquitquit"
# How long Envoy takes to exit once the quit reached it: measured 6-16 ms, idle and with two
# busy loops on the 2 cores; the rest is headroom.
EXIT_AFTER_QUIT = 1.0

_CANNOT = can_make_pods()


@pytest.fixture
def pod():
    """A private network namespace for one test; everything started in it is killed after."""
    if _CANNOT:
        if os.environ.get("CI"):
            pytest.fail(f"the Envoy tests cannot run: {_CANNOT}")
        pytest.skip(_CANNOT)
    made = Pod()
    yield made
    made.close()


def app_start_time(wrapper) -> float:
    """The epoch time the app printed first thing (``date +%s.%N``)."""
    return float(wrapper.stdout_lines[0])


def log_time(event: dict) -> float:
    """The epoch time of one --log-format json line (millisecond precision)."""
    stamp = datetime.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()


def assert_envoy_quit(envoy):
    """One quit came through 15020, and Envoy exited 0."""
    assert envoy.wait() == 0, envoy.explain()
    assert len(envoy.requests_to(AGENT_PORT, QUIT_PATH)) == 1, envoy.explain()


# -- waiting ------------------------------------------------------------------------------
def test_app_starts_only_after_envoy_turned_live(pod):
    """Started with Envoy, the wrapper starts the app only after Envoy turned LIVE."""
    envoy = pod.envoy()
    w = pod.run(["--", SH, "-c", "date +%s.%N"])
    assert w.returncode == 0, w.stderr
    live = envoy.live_time()
    assert app_start_time(w) > live
    # Prompt: refused probes come every 20 ms. Measured 5-55 ms, under load too.
    assert app_start_time(w) - live < 1.0
    assert envoy.wait() == 0, envoy.explain()
    # 15021 refused until LIVE (no trace), then one 200 ended the wait.
    ready = envoy.requests_to(READY_PORT)
    assert [r.status for r in ready] == [200], envoy.explain()
    assert ready[0].start < app_start_time(w)


def test_poll_rate_against_envoy_admin_ready_503s(pod):
    """While Envoy's admin /ready answers 503 (INITIALIZING), at most 10 probes a second."""
    envoy = pod.envoy().wait_running()
    w = pod.run(["--ready-url", ADMIN_READY, "--", "true"])
    assert w.returncode == 0, w.stderr
    assert envoy.wait() == 0, envoy.explain()  # quit: its access log is complete
    probes = envoy.requests_to(ADMIN_PORT, "/ready")
    not_ready = [r for r in probes if r.status != 200]
    assert len(not_ready) >= 10, f"Envoy should have answered 503 for ~2 s{envoy.explain()}"
    assert {r.status for r in not_ready} == {503}
    first, last = not_ready[0].start, not_ready[-1].start
    # Envoy stamps each request when it reads it: allow a few ms of jitter per request.
    assert len(not_ready) <= (last - first + 0.05) * 10 + 1, envoy.explain()
    # Every 100 ms, not the 20 ms of refused probes. The median, not the minimum: one request
    # that Envoy read late makes the next gap short (a loaded machine stalls a thread 50 ms).
    gaps = [b.start - a.start for a, b in zip(not_ready, not_ready[1:])]
    assert statistics.median(gaps) >= 0.09, f"probes after a 503 must not come every 20 ms: {gaps}"
    # The first 200 comes within about one 100 ms interval of LIVE.
    ready = [r for r in probes if r.status == 200]
    assert ready and ready[0].start - envoy.live_time() < 0.35, envoy.explain()


# -- the app's end is the wrapper's exit code, and the proxy is quit -------------------------
@pytest.mark.parametrize("code", [0, 3, 255])
def test_wrapper_exits_with_the_app_exit_code(pod, code):
    """The wrapper exits with the app's exit code, after quitting Envoy."""
    envoy = pod.envoy()
    w = pod.run(["--", SH, "-c", f"exit {code}"])
    assert w.returncode == code, w.stderr
    assert_envoy_quit(envoy)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGUSR1])
def test_app_killed_by_a_signal_gives_128_plus_n(pod, signum):
    """An app killed by signal N makes the wrapper exit 128+N, after quitting Envoy."""
    envoy = pod.envoy()
    w = pod.run(["--", SH, "-c", f"kill -s {signum.name[3:]} $$"])
    assert w.returncode == 128 + signum, w.stderr
    assert f"app killed by {signum.name}" in w.stderr
    assert_envoy_quit(envoy)


def test_sigterm_to_the_wrapper_stops_the_app_and_quits_envoy(pod):
    """SIGTERM to the wrapper while the app runs: the app dies of it (143), Envoy is quit."""
    envoy = pod.envoy()
    w = pod.wrapper(["--", "sleep", "60"])  # default handlers: SIGTERM kills it
    w.wait_for_line(lambda line: "app started" in line, timeout=20, stream="stderr")
    os.kill(w.pid, signal.SIGTERM)
    assert w.wait(10) == 143, w.stderr
    assert "app killed by SIGTERM" in w.stderr
    assert_envoy_quit(envoy)


def test_sigterm_while_envoy_initializes_never_starts_the_app(pod):
    """SIGTERM while Envoy is still initializing: the app never starts, the wrapper exits 143."""
    w = pod.wrapper(["--", SH, "-c", "echo app ran"])
    w.wait_for_line(lambda line: "waiting for the proxy" in line, timeout=20, stream="stderr")
    envoy = pod.envoy().wait_running()
    signalled = time.time()
    os.kill(w.pid, signal.SIGTERM)
    assert w.wait(10) == 143, w.stderr
    assert w.stdout == ""
    # Envoy was still initializing when the signal came (it turns LIVE ~2 s after start).
    envoy.wait_live()
    assert signalled < envoy.live_at, envoy.explain()


# -- the quit -------------------------------------------------------------------------------
def test_envoy_exits_0_soon_after_the_quit(pod):
    """After the app exits, the wrapper's quit ends Envoy: exit 0 within a second, ports closed."""
    envoy = pod.envoy()
    w = pod.run(["--", "true"])
    assert w.returncode == 0, w.stderr
    assert envoy.wait() == 0, envoy.explain()
    [quit_] = envoy.requests_to(AGENT_PORT, QUIT_PATH)
    assert envoy.exited_at - quit_.start < EXIT_AFTER_QUIT, envoy.explain()
    assert not any(pod.listening(port) for port in (ADMIN_PORT, READY_PORT, AGENT_PORT))


def test_a_quit_relayed_through_15020_is_reported_landed(pod):
    """Envoy exits before answering a quit relayed through 15020: the wrapper reports it landed."""
    envoy = pod.envoy()
    w = pod.run(["--", "true"])
    assert w.returncode == 0, w.stderr
    assert envoy.wait() == 0, envoy.explain()
    # The premise: Envoy closed the connection without an answer (status 0, flags DC).
    [quit_] = envoy.requests_to(AGENT_PORT, QUIT_PATH)
    assert (quit_.status, quit_.flags) == (0, "DC"), envoy.explain()
    assert "warning" not in w.stderr, w.stderr
    assert "proxy quit" in w.stderr, w.stderr


def test_quit_only_ends_a_live_envoy_and_exits_0(pod):
    """--quit-only against a LIVE Envoy: Envoy exits 0 and so does the wrapper, without warning."""
    envoy = pod.envoy()
    envoy.wait_live()
    w = pod.run(["--quit-only"])
    assert envoy.wait() == 0, envoy.explain()
    assert w.returncode == 0, w.stderr
    assert "warning" not in w.stderr, w.stderr


# -- --check-ready --------------------------------------------------------------------------
def test_check_ready_is_1_while_envoy_initializes_and_0_once_live(pod):
    """--check-ready exits 1 while Envoy initializes (refused on 15021, 503 on the admin),
    and 0 once Envoy is LIVE."""
    envoy = pod.envoy().wait_running()
    refused = pod.wrapper(["--check-ready"])
    admin = pod.wrapper(["--check-ready", "--ready-url", ADMIN_READY])
    assert (refused.wait(), admin.wait()) == (1, 1), refused.stderr + admin.stderr
    checked = time.time()
    assert [r.status for r in envoy.wait_for_requests(ADMIN_PORT, "/ready")] == [503], envoy.explain()
    live = envoy.wait_live()
    assert checked < live, "Envoy turned LIVE before the checks ended: they proved nothing"
    ready = pod.run(["--check-ready"])
    assert ready.returncode == 0, ready.stderr
    assert [r.status for r in envoy.wait_for_requests(READY_PORT)] == [200], envoy.explain()


# -- --no-proxy-grace: one image for meshed and unmeshed pods ---------------------------------
# In Istio, pilot-agent's 15020 listens soon after the proxy container starts, long before
# Envoy's 15021 is ready: that is what the grace looks for. A plain Envoy opens 15020 only
# when LIVE, so here the admin's quit (15000, listening from Envoy's first ~100 ms) stands in
# for pilot-agent's early port.
GRACE = 1.5
ENVOY_LATE = 0.5  # Envoy starts this long after the wrapper began waiting: LIVE at ~2.5 s


def test_envoy_started_late_within_the_grace_is_waited_for(pod):
    """A proxy that starts within --no-proxy-grace is waited for, although not ready by then."""
    w = pod.wrapper(["--no-proxy-grace", str(GRACE),
                     "--quit-url", f"http://127.0.0.1:{ADMIN_PORT}{QUIT_PATH}",
                     "--", SH, "-c", "date +%s.%N"])
    w.wait_for_line(lambda line: "waiting for the proxy" in line, timeout=20, stream="stderr")
    waiting_since = time.time()
    time.sleep(ENVOY_LATE)  # the scenario: the kubelet starts the proxy container late
    envoy = pod.envoy().wait_running()
    assert time.time() - waiting_since < GRACE, "Envoy was not listening within the grace"
    assert w.wait(30) == 0, w.stderr
    # The grace passed while Envoy was still initializing (15021 refused): the wait went on.
    assert envoy.live_time() - waiting_since > GRACE, envoy.explain()
    assert app_start_time(w) > envoy.live_at
    assert "no proxy" not in w.stderr, w.stderr
    assert envoy.wait() == 0, envoy.explain()
    assert [r.status for r in envoy.requests_to(ADMIN_PORT, QUIT_PATH)] == [200], envoy.explain()


def test_no_proxy_at_all_runs_the_app_once_the_grace_is_over(pod):
    """Nothing listening on the proxy's ports for --no-proxy-grace: the app runs promptly, no quit."""
    grace = 0.5
    w = pod.run(["--no-proxy-grace", str(grace), "--log-format", "json",
                 "--", SH, "-c", "date +%s.%N; exit 7"])
    assert w.returncode == 7, w.stderr
    events = {event["event"]: event for event in map(json.loads, w.stderr_lines)}
    assert "proxy_absent" in events, w.stderr
    assert not {"proxy_quit", "quit_failed"} & set(events), w.stderr
    # From the start of the wait: measured 0.52-0.56 s, under load too.
    waiting = log_time(events["waiting"])
    assert grace <= app_start_time(w) - waiting < grace + 0.5, w.stderr
