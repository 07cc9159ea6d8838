"""Readiness: prompt when the proxy turns ready, never flooding its log, bounded by the deadline."""
import signal

import pytest

from entrypoint import waiting

from entrypoint import readiness
from entrypoint.http_request import Answer
from tests.helpers.fakes import REFUSED, Recorder, ScriptedNet, faked_time


def run_wait(answers, timeout, cost=0.001, listening=lambda host, port, now: False, signals_sent=(),
             no_proxy_grace=0.0, log=None):
    """wait_for_proxy in fake time; ``answers(now)`` is the ready URL's answer at that time,
    ``listening`` says whether a port accepts connections, ``signals_sent`` [(time, signum)].
    Returns (outcome, proxy, net)."""
    with faked_time(signals_sent) as clock:
        net = ScriptedNet(clock, lambda method, url, now: answers(now),
                          lambda host, port, now: not listening(host, port, now), cost)
        proxy = net.proxy()
        outcome = readiness.wait_for_proxy(proxy, timeout, log or Recorder(), no_proxy_grace)
    return outcome, proxy, net


def probe_times(net):
    return [timeout for *_, timeout in net.requests]


def test_non_200_answers_are_at_most_ten_a_second():
    clock_probes = []
    outcome, proxy, net = run_wait(lambda now: clock_probes.append(now) or Answer(503), timeout=5)
    assert not outcome.ready and proxy.seen
    assert len(clock_probes) <= 5 * 10 + 1
    gaps = [b - a for a, b in zip(clock_probes, clock_probes[1:])]
    assert min(gaps) >= readiness.ANSWERED_INTERVAL - 1e-9


def test_refused_probes_poll_fast_and_report_no_proxy():
    outcome, proxy, net = run_wait(lambda now: REFUSED, timeout=1)
    assert not outcome.ready and not proxy.seen
    assert len(net.requests) >= 30  # every 20 ms: a proxy that starts listening is seen at once


def test_ready_as_soon_as_200():
    outcome, _, _ = run_wait(lambda now: Answer(200) if now >= 0.5 else Answer(503), timeout=0)
    assert outcome.ready
    assert 0.5 <= outcome.waited <= 0.5 + readiness.ANSWERED_INTERVAL + 0.01


@pytest.mark.parametrize("timeout", [0.5, 0.55, 0.59, 1.0, 2.345])
def test_no_probe_starts_without_time_for_an_answer(timeout):
    """A probe cut short would time out and the wait would end on that, not on the proxy's 503."""
    outcome, _, net = run_wait(lambda now: Answer(503), timeout, cost=0.02)
    budgets = probe_times(net)
    assert min(budgets) >= readiness.MIN_PROBE_TIME - 1e-9
    assert outcome.last == Answer(503)
    assert timeout - 1e-9 <= outcome.waited <= timeout + 0.02 + 1e-9


@pytest.mark.parametrize("timeout", [0.3, 1.0, 2.5])
def test_a_probe_never_outlives_the_deadline(timeout):
    """A proxy that hangs: every probe's budget ends by the ready deadline, at most PROBE_TIMEOUT."""
    hang = Answer(error="no answer", connected=True)  # the proxy takes the whole budget every time
    outcome, _, net = run_wait(lambda now: hang, timeout, cost=3600)
    assert max(budget for *_, budget in net.requests) <= readiness.PROBE_TIMEOUT
    assert outcome.waited <= timeout + 1e-9


def test_no_proxy_grace_ends_the_wait_when_nothing_listens_anywhere():
    outcome, proxy, net = run_wait(lambda now: REFUSED, timeout=10, no_proxy_grace=1.0)
    assert outcome.absent and not outcome.ready and not proxy.seen
    assert 1.0 <= outcome.waited < 1.0 + readiness.REFUSED_INTERVAL + 0.01
    assert set(net.checks) == {("127.0.0.1", 15021), ("127.0.0.1", 15020)}, "every port looked at, once"


def test_a_listening_quit_port_means_a_proxy_is_there():
    """pilot-agent's 15020 listens long before Envoy's 15021: keep waiting, as without the grace."""
    outcome, proxy, net = run_wait(lambda now: REFUSED, timeout=3, no_proxy_grace=1.0,
                                   listening=lambda host, port, now: port == 15020)
    assert not outcome.absent and outcome.waited == pytest.approx(3)
    assert ("127.0.0.1", 15020) in proxy.seen
    assert len(net.checks) == 2, "decided once"


def test_any_answer_before_the_grace_means_a_proxy_is_there():
    outcome, proxy, net = run_wait(lambda now: Answer(503) if now > 0.3 else REFUSED, timeout=3,
                                   no_proxy_grace=1.0)
    assert not outcome.absent and proxy.seen and net.checks == []


def test_a_proxy_that_starts_listening_within_the_grace_is_waited_for():
    outcome, proxy, _ = run_wait(lambda now: REFUSED if now < 0.8 else Answer(503) if now < 1.5 else Answer(200),
                                 timeout=10, no_proxy_grace=1.0)
    assert outcome.ready and not outcome.absent


def test_stop_signal_ends_the_wait_and_others_do_not():
    outcome, _, _ = run_wait(lambda now: Answer(503), timeout=0,
                             signals_sent=[(0.25, signal.SIGUSR1), (0.5, signal.SIGTERM)])
    assert outcome.signal == signal.SIGTERM and not outcome.ready
    assert outcome.waited == pytest.approx(0.5)


def test_a_stop_signal_during_the_no_proxy_check_ends_the_wait():
    """The check of the other ports is cut short by a stop signal as a probe is."""
    with faked_time([(1.05, signal.SIGTERM)]) as clock:
        net = ScriptedNet(clock, lambda method, url, now: REFUSED, cost=0.001)

        def slow_knock(host, port, deadline):  # hangs until its deadline
            net.checks.append((host, port))
            yield from waiting.sleep(deadline)
            return "unknown"
        proxy = net.proxy()
        proxy.net = proxy.net._replace(knock=slow_knock)
        outcome = readiness.wait_for_proxy(proxy, 10, Recorder(), 1.0)
    assert outcome.signal == signal.SIGTERM and not outcome.absent
    assert net.checks and clock.now == pytest.approx(1.05)


def test_debug_lines_say_each_change_not_each_probe():
    """50 probes a second with --log-level=debug: one line when the answer changes."""
    log = Recorder()
    run_wait(lambda now: REFUSED if now < 1 else Answer(503), timeout=3, log=log)
    said = [message for _, event, message in log.lines if event == "proxy_not_ready"]
    assert said == ["proxy not ready: connection refused", "proxy not ready: HTTP 503"]


@pytest.mark.parametrize("status", [204, 301, 302, 404, 503])
def test_only_200_is_ready(status):
    outcome, _, net = run_wait(lambda now: Answer(status), timeout=1)
    assert not outcome.ready and outcome.last == Answer(status)
