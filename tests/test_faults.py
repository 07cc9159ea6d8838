"""Whatever a proxy does, the pod ends: the exit code kept, every wait bounded, a stop signal
acted on at once, the memory flat.

A hostile sidecar (tests/helpers/hostile_sidecar.py) stands at the ready URL, at the quit URL
or behind --check-ready, while a well-behaved fake (fake_sidecar.py) serves the other endpoint
so the quit's fate can be seen. Runs against `python -m entrypoint` or SK_TEST_BIN.
"""
import json
import os
import signal
import time

import pytest

from tests.helpers.hostile_sidecar import HostileSidecar
from tests.helpers.process import run, slow

from tests.helpers.emulation import emulated

pytestmark = pytest.mark.builds("python", "binary", "emulated")

# Whatever a sidecar sends, the wrapper's peak RSS stays within GROWTH_KIB of a run against a
# well-behaved one (an unbounded read went to gigabytes), and the static binary under 16 MiB
# (under emulation the emulator's own memory is counted too: only the growth is checked).
GROWTH_KIB = 4 * 1024
BINARY_LIMIT_KIB = 16 * 1024
# Generous against noise, far below what an unbounded wait would take.
STOP_LATENCY = 0.5

NOT_READY = ["hang", "no-read-hang", "trickle-status", "continue-flood", "close", "reset", "garbage",
             "status:503"]
# The status line is all that counts: these say 200 at once and then misbehave.
READY = ["trickle-headers", "trickle-body", "endless-body", "huge-body", "huge-length", "long-header",
         "answer-then-vanish"]
QUIT_FAULTS = ["hang", "no-read-hang", "trickle-status", "continue-flood", "close", "reset", "garbage",
               "status:503", "status:404"]


@pytest.fixture(scope="module")
def baseline_rss_kib():
    """The wrapper's peak RSS in a whole job against a well-behaved sidecar."""
    from tests.helpers.fake_sidecar import FakeSidecar
    with FakeSidecar() as good:
        w = run(["--ready-url", good.ready_url, "--quit-url", good.quit_url, "--", "sh", "-c", "exit 3"])
    assert w.returncode == 3 and w.peak_rss_kib > 0
    return w.peak_rss_kib


def assert_memory_flat(w, baseline):
    assert w.peak_rss_kib < baseline + GROWTH_KIB, (w.peak_rss_kib, baseline)
    if os.environ.get("SK_TEST_BIN") and not emulated():
        assert w.peak_rss_kib < BINARY_LIMIT_KIB


@pytest.fixture
def hostile():
    started = []

    def make(behaviour):
        fake = HostileSidecar(behaviour).start()
        started.append(fake)
        return fake
    yield make
    for fake in started:
        fake.close()


def events(wrapper):
    """The wrapper's JSON log lines, as dicts."""
    return [json.loads(line) for line in wrapper.stderr_lines if line.startswith("{")]


def event_time(wrapper, name) -> float:
    """When the wrapper logged ``name``, on the wall clock."""
    record = next(e for e in events(wrapper) if e["event"] == name)
    stamp = time.strptime(record["time"][:19], "%Y-%m-%dT%H:%M:%S")
    return time.mktime(stamp) - time.timezone + int(record["time"][20:23]) / 1000


@pytest.mark.parametrize("behaviour", NOT_READY + READY)
def test_a_misbehaving_ready_endpoint_ends_by_the_deadline_and_the_proxy_is_quit(sidecar, hostile, behaviour,
                                                                                  baseline_rss_kib):
    ready, good = hostile(behaviour), sidecar()
    w = run(["--ready-url", ready.url(), "--quit-url", good.quit_url, "--ready-timeout", "1",
             "--", "sh", "-c", "exit 3"], timeout=30)
    took = w.ended - w.started
    assert w.returncode == (3 if behaviour in READY else 69), w.stderr
    assert took < slow(0.5) + 1 + 0.5, f"{took:.2f}s for a 1 s ready deadline"
    assert len(good.quits) == 1, w.stderr
    assert_memory_flat(w, baseline_rss_kib)
    assert all(line.isprintable() for line in w.stderr_lines)


@pytest.mark.parametrize("behaviour", NOT_READY)
def test_a_stop_signal_while_the_proxy_misbehaves_is_acted_on_at_once(sidecar, hostile, behaviour):
    ready, good = hostile(behaviour), sidecar()
    w = run(["--ready-url", ready.url(), "--quit-url", good.quit_url, "--ready-timeout", "0",
             "--log-format", "json", "--", "sh", "-c", "touch started; exit 3"], timeout=30,
            kill_when=lambda w: ready.connections >= 1 and time.monotonic() - w.started > slow(0.3) + 0.3)
    assert w.returncode == 128 + signal.SIGTERM, w.stderr
    assert event_time(w, "start_abandoned") - w.killed_at < STOP_LATENCY
    assert w.ended - w.killed_mono < STOP_LATENCY
    assert len(good.quits) == 1


@pytest.mark.parametrize("behaviour", QUIT_FAULTS)
def test_a_misbehaving_quit_endpoint_keeps_the_code_within_the_quit_timeout(sidecar, hostile, behaviour,
                                                                           baseline_rss_kib):
    good, quit = sidecar(), hostile(behaviour)
    w = run(["--ready-url", good.ready_url, "--quit-url", quit.url("/quitquitquit"), "--quit-timeout", "1",
             "--", "sh", "-c", "exit 3"], timeout=30)
    assert w.returncode == 3, w.stderr
    assert w.ended - w.started < slow(0.5) + 1 + 0.5
    assert quit.connections >= 1
    assert "could not quit the proxy" in w.stderr
    assert_memory_flat(w, baseline_rss_kib)


@pytest.mark.parametrize("behaviour", ["hang", "trickle-status", "continue-flood", "status:503"])
def test_a_stop_signal_during_a_hung_quit_ends_it_and_keeps_the_code(sidecar, hostile, behaviour):
    good, quit = sidecar(), hostile(behaviour)
    w = run(["--ready-url", good.ready_url, "--quit-url", quit.url("/quitquitquit"), "--quit-timeout", "60",
             "--log-format", "json", "--", "sh", "-c", "exit 3"], timeout=30,
            kill_when=lambda w: quit.connections >= 1 and any('"app_exited"' in x for x in w.stderr_lines))
    assert w.returncode == 3, w.stderr
    assert w.ended - w.killed_mono < STOP_LATENCY
    assert event_time(w, "quit_abandoned") - w.killed_at < STOP_LATENCY


@pytest.mark.parametrize("behaviour", NOT_READY + READY)
def test_check_ready_is_bounded_by_one_probe(hostile, behaviour, baseline_rss_kib):
    ready = hostile(behaviour)
    w = run(["--check-ready", "--ready-url", ready.url()], timeout=30)
    assert w.returncode == (0 if behaviour in READY else 1)
    assert w.ended - w.started < slow(0.5) + 1 + 0.5
    assert_memory_flat(w, baseline_rss_kib)


def test_a_hung_extra_quit_endpoint_holds_no_other_quit(sidecar):
    """Quit URLs run side by side: one that accepts and never answers does not hold the one
    that lands, and the pod's end waits for --quit-timeout once, not once per URL."""
    good = sidecar(quit_exit=0.0)
    hung = HostileSidecar("hang").start()
    try:
        w = run(["--ready-url", good.ready_url, "--quit-url", hung.url("/q"), "--quit-url", hung.url("/r"),
                 "--quit-url", good.quit_url, "--quit-timeout", "2", "--log-format", "json",
                 "--", "sh", "-c", "exit 4"], timeout=30)
    finally:
        hung.close()
    assert w.returncode == 4
    assert event_time(w, "proxy_quit") - event_time(w, "app_exited") < 0.5, "the good quit waited"
    assert w.ended - w.started < slow(0.5) + 2 + 0.5


def test_a_dead_extra_quit_endpoint_delays_nothing(sidecar):
    """An extra quit URL where nothing ever listened (scuttle's GENERIC_QUIT_ENDPOINTS of a
    sidecar that is not there): tried once; the pod ends as soon as the real quit landed."""
    good = sidecar()
    w = run(["--ready-url", good.ready_url, "--", "sh", "-c", "exit 4"], timeout=30,
            extra_env={"GENERIC_QUIT_ENDPOINTS": "http://127.0.0.1:9/quitquitquit",
                       "ISTIO_QUIT_API": good.quit_url.rsplit("/", 1)[0], "QUIT_REQUEST_TIMEOUT": "10s"})
    assert w.returncode == 4
    assert len(good.quits) == 1
    assert "could not quit the proxy: POST http://127.0.0.1:9/quitquitquit: connection refused after 1 attempt" \
        in w.stderr
    assert w.ended - w.started < slow(0.5) + 1, "not the 10 s --quit-timeout"


def test_each_quit_url_is_judged_on_its_own_evidence(sidecar):
    """Istio's quit lands and its ports close; a second URL where nothing ever listened is a failed
    quit, not 'gone' on the first proxy's evidence."""
    good = sidecar(quit_exit=0.0)
    w = run(["--ready-url", good.ready_url, "--quit-url", good.quit_url, "--quit-url", "http://127.0.0.1:9/never",
             "--quit-timeout", "1", "--quit-only"], timeout=30)
    assert w.returncode == 1
    assert "could not quit the proxy: POST http://127.0.0.1:9/never: connection refused" in w.stderr
