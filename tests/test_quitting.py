"""The quit: retried while it may still pass, bounded by --quit-timeout, judged by its effect."""
import signal

import pytest

from entrypoint import quitting
from entrypoint.config import load
from entrypoint.http_request import Answer
from tests.helpers.fakes import CLOSED, REFUSED, Recorder, ScriptedNet, faked_time, in_turn

ISTIO_QUIT = "http://127.0.0.1:15020/quitquitquit"


def quit_once(answers, refusing=lambda host, port, now: False, timeout=2.0, retry=True, seen=(), cost=0.0,
              ready="http://127.0.0.1:15021/healthz/ready", url=ISTIO_QUIT):
    """One quit URL against a scripted network; ``seen``: ports seen listening earlier in the run.
    Returns (landed, net, log lines, clock)."""
    with faked_time() as clock:
        net = ScriptedNet(clock, answers, refusing, cost)
        proxy = net.proxy(ready=ready, quits=(url,))
        proxy.seen.update(seen)
        log = Recorder()
        landed = quitting.quit_all(proxy, timeout, log, retry_unseen=retry)
    return landed, net, log.lines, clock


def test_quit_retries_refused_and_5xx_with_backoff_until_2xx():
    """Not waited for (--no-wait): the proxy may still be starting, so refusals are retried."""
    landed, net, lines, clock = quit_once(in_turn(REFUSED, Answer(503), Answer(200)), timeout=10)
    assert landed and len(net.requests) == 3
    assert clock.now == pytest.approx(quitting.FIRST_BACKOFF * 3)  # 0.05 then 0.1
    assert lines[-1][1] == "proxy_quit"


def test_quit_gives_up_at_the_deadline():
    landed, net, lines, clock = quit_once(in_turn(Answer(500)), timeout=3, cost=0.01)
    assert not landed
    assert clock.now <= 3.0 + 0.011
    assert 5 <= len(net.requests) < 15
    assert "exit code is unchanged" in lines[-1][2]


@pytest.mark.parametrize("answer", [Answer(404), Answer(405), Answer(403), Answer(error="no answer within 1s")])
def test_quit_does_not_retry_what_will_not_pass(answer):
    landed, net, _, _ = quit_once(in_turn(answer), timeout=10)
    assert not landed and len(net.requests) == 1


def test_a_refusal_where_nothing_ever_listened_is_tried_once():
    """No such sidecar, or a wrong URL: one attempt, not the whole --quit-timeout."""
    landed, net, _, _ = quit_once(in_turn(REFUSED), timeout=10, retry=False, seen={("127.0.0.1", 15021)})
    assert not landed and len(net.requests) == 1


def test_a_refusal_where_something_listened_is_retried():
    """The quit port took a connection earlier in this run (a restart under way): retried."""
    landed, net, _, _ = quit_once(in_turn(REFUSED, REFUSED, Answer(200)), timeout=10, retry=False,
                                  seen={("127.0.0.1", 15020)})
    assert landed and len(net.requests) == 3


def test_the_last_retry_gets_time_for_its_answer():
    """No POST starts as the deadline strikes: each has MIN_ANSWER_TIME, the warning names the 500."""
    landed, net, lines, clock = quit_once(in_turn(Answer(500)), timeout=1.0, cost=0.003)
    budgets = [timeout for *_, timeout in net.requests]
    assert not landed
    assert len(budgets) >= 5 and min(budgets) >= quitting.MIN_ANSWER_TIME - 1e-9
    assert 1.0 - quitting.MIN_ANSWER_TIME - 0.01 <= clock.now <= 1.0, "retried until near the deadline"
    assert "HTTP 500 after" in lines[-1][2]


# -- judged by its effect, on its own evidence -----------------------------------------------
def test_a_quit_closed_without_answer_lands_once_the_proxy_stops_listening():
    """Envoy quit through a route exits before answering; its ports close a moment later."""
    landed, net, lines, _ = quit_once(in_turn(CLOSED), lambda host, port, now: now >= 0.1,
                                      seen={("127.0.0.1", 15021)})
    assert landed
    assert len(net.requests) == 1, "a request that may have landed is not sent again"
    assert {("127.0.0.1", 15020), ("127.0.0.1", 15021)} <= set(net.checks)
    level, event, message = lines[-1]
    assert (level, event) == ("info", "proxy_quit")
    assert "the proxy is gone (127.0.0.1:15020, 127.0.0.1:15021 refuse connections now)" in message
    assert f"though POST {ISTIO_QUIT} got connection closed without an answer" in message


def test_a_quit_closed_without_answer_fails_while_the_proxy_still_listens():
    landed, net, lines, clock = quit_once(in_turn(CLOSED), timeout=2)
    assert not landed and len(net.requests) == 1
    assert clock.now <= 2.0 + 1e-9, "bounded by --quit-timeout"
    assert len(net.checks) >= 4, "kept looking until the deadline"
    assert lines[-1][1] == "quit_failed" and "connection closed without an answer" in lines[-1][2]


def test_the_proxy_is_not_gone_while_its_ready_port_still_listens():
    """pilot-agent's port refusing is not enough while Envoy, seen on 15021, still listens there."""
    landed, *_ = quit_once(in_turn(CLOSED), lambda host, port, now: port == 15020, seen={("127.0.0.1", 15021)})
    assert not landed


def test_a_refused_quit_is_not_landed_where_nothing_was_ever_seen():
    """No proxy at all, a wrong URL, or another sidecar that never listened: proof of nothing."""
    landed, net, lines, _ = quit_once(in_turn(REFUSED), lambda host, port, now: True, timeout=1,
                                      seen={("127.0.0.1", 15021)})
    assert not landed and net.checks == []
    assert "connection refused" in lines[-1][2]


def test_a_refused_quit_lands_when_its_port_was_seen_and_the_proxy_is_gone():
    landed, net, lines, _ = quit_once(in_turn(REFUSED), lambda host, port, now: True,
                                      seen={("127.0.0.1", 15020), ("127.0.0.1", 15021)})
    assert landed and len(net.requests) == 1
    assert f"though POST {ISTIO_QUIT} got connection refused" in lines[-1][2]


def test_readiness_seen_on_another_host_is_no_evidence_here():
    landed, net, _, _ = quit_once(in_turn(CLOSED), lambda host, port, now: True, timeout=0.5,
                                  ready="http://10.0.0.5:15000/ready", seen={("10.0.0.5", 15000)})
    assert landed, "its own port was seen (the POST connected) and refuses now"
    assert net.checks and all(host == "127.0.0.1" for host, _ in net.checks)


def test_a_proxy_that_exits_late_is_gone_when_the_retry_arrives():
    """pilot-agent answered 503 while exiting; the retry finds the port closed."""
    landed, net, lines, _ = quit_once(in_turn(Answer(503), REFUSED), lambda host, port, now: now >= 0.04)
    assert landed and len(net.requests) == 2
    assert "got connection refused" in lines[-1][2]


@pytest.mark.parametrize("status", [403, 404, 405])
def test_a_4xx_is_a_refusal_not_a_quit_in_progress(status):
    landed, net, _, _ = quit_once(in_turn(Answer(status)), lambda host, port, now: True,
                                  seen={("127.0.0.1", 15021)})
    assert not landed and len(net.requests) == 1 and net.checks == []


def test_a_hung_quit_is_checked_once_within_its_deadline():
    hung = Answer(error="no answer within 1.5s", connected=True)
    landed, net, _, clock = quit_once(in_turn(hung), timeout=1.5, cost=1.5)
    assert not landed and len(net.requests) == 1 and len(net.checks) == 1
    assert clock.now == pytest.approx(1.5)


def test_an_unreachable_quit_url_is_not_watched_for_the_whole_timeout():
    """Loopback down or IPv6 off: nothing answered, so the port was never seen and there is
    nothing to watch go away; one failed quit, at once."""
    unreachable = Answer(error="Network is unreachable")
    landed, net, lines, clock = quit_once(in_turn(unreachable), timeout=10, retry=False)
    assert not landed and len(net.requests) == 1 and net.checks == []
    assert clock.now == 0 and "Network is unreachable" in lines[-1][2]


def test_a_linkerd_quit_checks_its_one_port():
    landed, net, _, _ = quit_once(in_turn(CLOSED), lambda host, port, now: True,
                                  ready="http://127.0.0.1:4191/ready", url="http://127.0.0.1:4191/shutdown")
    assert landed and net.checks == [("127.0.0.1", 4191)]


# -- all quit URLs, side by side ----------------------------------------------------------------
def test_every_url_is_quit_even_after_one_fails(fake_time):
    net = ScriptedNet(fake_time, lambda method, url, now: Answer(404) if url.port == 1 else Answer(200))
    proxy = net.proxy(quits=("http://127.0.0.1:1/q", "http://127.0.0.1:2/q"))
    assert not quitting.quit_all(proxy, 1, Recorder(), retry_unseen=True)
    assert sorted(port for _, _, port, _ in net.requests) == [1, 2]


def test_urls_are_quit_side_by_side(fake_time):
    """Two slow endpoints: the quit takes as long as the slower one, not as both together."""
    net = ScriptedNet(fake_time, in_turn(Answer(200)), cost=0.4)
    proxy = net.proxy(quits=("http://127.0.0.1:1/q", "http://127.0.0.1:2/q"))
    assert quitting.quit_all(proxy, 5, Recorder())
    assert fake_time.now == pytest.approx(0.4)


def test_a_bug_in_one_quit_fails_it_alone(fake_time):
    def answers(method, url, now):
        if url.port == 1:
            raise KeyError("injected")
        return Answer(200)
    net = ScriptedNet(fake_time, answers)
    log = Recorder()
    proxy = net.proxy(quits=("http://127.0.0.1:1/q", "http://127.0.0.1:2/q"))
    assert not quitting.quit_all(proxy, 1, log)
    assert [event for _, event, _ in log.lines] == ["internal_error", "proxy_quit"]


def test_a_stop_signal_abandons_the_quits_at_once():
    with faked_time(signals=[(0.3, signal.SIGTERM)]) as clock:
        net = ScriptedNet(clock, in_turn(Answer(503)), cost=0.01)
        proxy = net.proxy()
        proxy.seen.add(("127.0.0.1", 15020))
        log = Recorder()
        assert not quitting.quit_all(proxy, 10, log)
    assert clock.now == pytest.approx(0.3)
    assert log.lines[-1][1] == "quit_abandoned" and "SIGTERM" in log.lines[-1][2]


def test_retry_backoff_doubles_up_to_a_second():
    """Refused where the port was seen: 50 ms, 100, 200, ... then every second at most."""
    with faked_time() as clock:
        times = []
        net = ScriptedNet(clock, lambda method, url, now: times.append(now) or REFUSED)
        proxy = net.proxy()
        proxy.seen.add(("127.0.0.1", 15020))
        assert not quitting.quit_all(proxy, 8, Recorder())
    gaps = [round(b - a, 3) for a, b in zip(times, times[1:])]
    assert gaps[:5] == [0.05, 0.1, 0.2, 0.4, 0.8]
    assert max(gaps) == quitting.MAX_BACKOFF and gaps.count(quitting.MAX_BACKOFF) >= 3


@pytest.mark.parametrize("quit_on, code, event", [
    ("always", 0, None), ("always", 3, None), ("success", 0, None), ("success", 1, "proxy_kept"),
    ("success", 143, "proxy_kept"), ("never", 0, "proxy_kept")])
def test_reason_to_keep_the_proxy(quit_on, code, event):
    keep = quitting.reason_to_keep(load(["--quit-on", quit_on, "--", "app"], {}), code, False, "")
    assert (keep and keep.event) == event
    if keep:
        assert f"(--quit-on={quit_on}, exit code {code})" in keep.line


@pytest.mark.parametrize("environ, says", [
    ({"SIDECAR_KILLER_QUIT_ON": "never"}, "SIDECAR_KILLER_QUIT_ON means --quit-on=never"),
    ({"NEVER_KILL_ISTIO": "true"}, "NEVER_KILL_ISTIO means --quit-on=never"),
    ({"ENVOY_ADMIN_API": "http://10.1.2.3:15000"}, "ENVOY_ADMIN_API off loopback means --quit-on=never"),
])
def test_the_reason_names_the_setting_as_the_user_made_it(environ, says):
    keep = quitting.reason_to_keep(load(["--", "app"], environ), 0, False, "")
    assert keep.event == "proxy_kept" and says in keep.line


def test_no_proxy_to_quit_when_disabled_absent_or_native():
    config = load(["--", "app"], {})
    assert quitting.reason_to_keep(load(["--disabled", "--", "app"], {}), 0, False, "") == ("disabled", "")
    assert quitting.reason_to_keep(config, 0, True, "") == ("proxy_absent", "")
    event, line = quitting.reason_to_keep(config, 0, False, "--native-sidecar")
    assert event == "proxy_native" and "native sidecar (--native-sidecar)" in line
