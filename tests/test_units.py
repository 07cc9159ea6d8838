"""Small pieces in isolation: exit-code mapping, the app's environment, quitting, readiness pacing, logs."""
import io
import json
import os
import signal

import pytest

from entrypoint import exitcodes, quitting, readiness
from entrypoint.config import parse_url
from entrypoint.http_request import Answer
from entrypoint.log import Logger


# -- exit codes ---------------------------------------------------------------------
@pytest.mark.parametrize("code", range(256))
def test_exit_status_is_kept(code):
    assert exitcodes.from_wait_status(code << 8) == code


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGKILL, signal.SIGSEGV, signal.SIGTERM, 64])
def test_signal_death_is_128_plus_n(signum):
    assert exitcodes.from_wait_status(signum) == 128 + signum


# -- quitting -----------------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Recorder:
    def __init__(self):
        self.lines = []

    def __getattr__(self, level):
        return lambda event, message, **fields: self.lines.append((level, event, message))


def scripted_post(clock, answers, cost=0.0):
    calls = []

    def post(url, timeout):
        calls.append(timeout)
        clock.now += cost
        return answers[min(len(calls) - 1, len(answers) - 1)]
    return post, calls


def test_quit_retries_refused_and_5xx_with_backoff_until_2xx():
    clock = FakeClock()
    post, calls = scripted_post(clock, [Answer(error="refused", refused=True), Answer(503), Answer(200)])
    log = Recorder()
    assert quitting.quit_one(parse_url("http://h/q"), 10, True, log, post=post, sleep=clock.sleep, clock=clock)
    assert len(calls) == 3
    assert clock.now == pytest.approx(quitting.FIRST_BACKOFF * 3)  # 0.05 then 0.1
    assert log.lines[-1][1] == "proxy_quit"


def test_quit_gives_up_at_the_deadline():
    clock = FakeClock()
    post, calls = scripted_post(clock, [Answer(500)], cost=0.01)
    log = Recorder()
    assert not quitting.quit_one(parse_url("http://h/q"), 3, True, log, post=post, sleep=clock.sleep, clock=clock)
    assert clock.now <= 3.0 + 0.011
    assert 5 <= len(calls) < 15
    assert "exit code is unchanged" in log.lines[-1][2]


@pytest.mark.parametrize("answer", [Answer(404), Answer(405), Answer(403), Answer(error="no answer within 1s")])
def test_quit_does_not_retry_what_will_not_pass(answer):
    clock = FakeClock()
    post, calls = scripted_post(clock, [answer])
    assert not quitting.quit_one(parse_url("http://h/q"), 10, True, Recorder(), post=post,
                                 sleep=clock.sleep, clock=clock)
    assert len(calls) == 1


def test_quit_without_retry_tries_once():
    clock = FakeClock()
    post, calls = scripted_post(clock, [Answer(error="refused", refused=True)])
    assert not quitting.quit_one(parse_url("http://h/q"), 10, False, Recorder(), post=post,
                                 sleep=clock.sleep, clock=clock)
    assert len(calls) == 1


def test_quit_all_tries_every_url_even_after_a_failure():
    clock = FakeClock()
    seen = []

    def post(url, timeout):
        seen.append(url.host)
        return Answer(404) if url.host == "a" else Answer(200)
    urls = [parse_url("http://a/q"), parse_url("http://b/q")]
    assert not quitting.quit_all(urls, 1, True, Recorder(), post=post, sleep=clock.sleep, clock=clock)
    assert seen == ["a", "b"]


def test_the_last_retry_gets_time_for_its_answer():
    """No POST starts as the deadline strikes: each has MIN_ANSWER_TIME, the warning names the 500."""
    clock = FakeClock()
    post, calls = scripted_post(clock, [Answer(500)], cost=0.003)
    log = Recorder()
    assert not quitting.quit_one(parse_url("http://h/q"), 1.0, True, log, post=post, sleep=clock.sleep, clock=clock)
    assert len(calls) >= 5 and min(calls) >= quitting.MIN_ANSWER_TIME - 1e-9
    assert 1.0 - quitting.MIN_ANSWER_TIME - 0.01 <= clock.now <= 1.0, "retried until near the deadline"
    assert "HTTP 500 after" in log.lines[-1][2]


# -- a quit is judged by its effect ---------------------------------------------------------
CLOSED = Answer(error="Remote end closed connection without response")
REFUSED = Answer(error="connection refused", refused=True)


def judged_quit(answers, refusing, timeout=2.0, retry=True, ready="http://127.0.0.1:15021/healthz/ready",
                ready_seen=False, cost=0.0):
    """quit_all against scripted POST answers; ``refusing(host, port, t)`` says if a port refuses
    at fake time t. Returns (landed, POST timeouts, port checks, log lines, fake clock)."""
    clock = FakeClock()
    post, calls = scripted_post(clock, answers, cost)
    checks = []

    def refuses(host, port, budget):
        checks.append((host, port))
        return refusing(host, port, clock.now)
    log = Recorder()
    landed = quitting.quit_all([parse_url("http://127.0.0.1:15020/quitquitquit")], timeout, retry, log,
                               ready=parse_url(ready) if ready else None, ready_seen=ready_seen,
                               post=post, refuses=refuses, sleep=clock.sleep, clock=clock)
    return landed, calls, checks, log.lines, clock


def test_a_quit_closed_without_answer_lands_once_the_proxy_stops_listening():
    """Envoy quit through a route exits before answering; its ports close a moment later."""
    landed, calls, checks, lines, clock = judged_quit([CLOSED], lambda host, port, t: t >= 0.1)
    assert landed
    assert len(calls) == 1, "a request that may have landed is not sent again"
    assert {("127.0.0.1", 15020), ("127.0.0.1", 15021)} <= set(checks)
    level, event, message = lines[-1]
    assert (level, event) == ("info", "proxy_quit")
    assert "the proxy is gone (127.0.0.1:15020, 127.0.0.1:15021 refuse connections now)" in message
    assert "though POST http://127.0.0.1:15020/quitquitquit got Remote end closed connection" in message


def test_a_quit_closed_without_answer_fails_while_the_proxy_still_listens():
    landed, calls, checks, lines, clock = judged_quit([CLOSED], lambda host, port, t: False, timeout=2)
    assert not landed and len(calls) == 1
    assert clock.now <= 2.0 + 1e-9, "bounded by --quit-timeout"
    assert len(checks) >= 4, "kept looking until the deadline"
    assert lines[-1][1] == "quit_failed" and "Remote end closed" in lines[-1][2]


def test_the_proxy_is_not_gone_while_its_ready_port_still_listens():
    """pilot-agent's port refusing is not enough while Envoy still listens on 15021."""
    landed, *_ = judged_quit([CLOSED], lambda host, port, t: port == 15020)
    assert not landed


def test_a_refused_first_quit_is_not_landed_when_nothing_was_ever_seen():
    """No proxy at all (or a wrong URL): ports that never listened prove nothing."""
    landed, calls, checks, lines, _ = judged_quit([REFUSED], lambda host, port, t: True, timeout=1)
    assert not landed and checks == []
    assert "connection refused" in lines[-1][2]


def test_a_refused_quit_lands_when_the_proxy_seen_at_the_ready_port_is_gone():
    landed, calls, checks, lines, _ = judged_quit([REFUSED], lambda host, port, t: True, ready_seen=True)
    assert landed and len(calls) == 1
    assert "though POST http://127.0.0.1:15020/quitquitquit got connection refused" in lines[-1][2]


def test_readiness_seen_on_another_host_is_no_evidence_here():
    landed, _, checks, _, _ = judged_quit([REFUSED], lambda host, port, t: True, timeout=0.5,
                                          ready="http://10.0.0.5:15000/ready", ready_seen=True)
    assert not landed and checks == []


def test_a_proxy_that_exits_late_is_gone_when_the_retry_arrives():
    """pilot-agent answered 503 while exiting; the retry finds the port closed."""
    landed, calls, _, lines, _ = judged_quit([Answer(503), REFUSED], lambda host, port, t: t >= 0.04)
    assert landed and len(calls) == 2
    assert "got connection refused" in lines[-1][2]


@pytest.mark.parametrize("status", [403, 404, 405])
def test_a_4xx_is_a_refusal_not_a_quit_in_progress(status):
    landed, calls, checks, _, _ = judged_quit([Answer(status)], lambda host, port, t: True, ready_seen=True)
    assert not landed and len(calls) == 1 and checks == []


def test_a_hung_quit_is_checked_once_within_its_deadline():
    landed, calls, checks, lines, clock = judged_quit([Answer(error="no answer within 1.5s")],
                                                      lambda host, port, t: False, timeout=1.5, cost=1.5)
    assert not landed and len(calls) == 1 and len(checks) == 1
    assert clock.now == pytest.approx(1.5)


def test_a_linkerd_quit_checks_its_one_port():
    clock = FakeClock()
    checks = []
    url = parse_url("http://127.0.0.1:4191/shutdown")
    assert quitting.quit_all([url], 1, True, Recorder(), ready=parse_url("http://127.0.0.1:4191/ready"),
                             post=lambda u, t: CLOSED, refuses=lambda h, p, t: checks.append(p) or True,
                             sleep=clock.sleep, clock=clock)
    assert checks == [4191]


@pytest.mark.parametrize("quit_on, code, expected", [
    ("always", 0, True), ("always", 3, True), ("success", 0, True), ("success", 1, False),
    ("success", 143, False), ("never", 0, False)])
def test_should_quit(quit_on, code, expected):
    assert quitting.should_quit(quit_on, code) is expected


# -- readiness pacing ---------------------------------------------------------------
def run_wait(answers, timeout, cost=0.001, budgets=None, **kwargs):
    """Drive wait_for_proxy with a fake clock; ``answers`` is a function of the time."""
    clock = FakeClock()
    probes = []

    def probe(url, budget):
        probes.append(clock.now)
        if budgets is not None:
            budgets.append(budget)
        clock.now += cost
        return answers(clock.now)

    def next_signal(seconds):
        clock.now += seconds
        return None
    outcome = readiness.wait_for_proxy(parse_url("http://h/r"), timeout, Recorder(), probe=probe,
                                       next_signal=next_signal, clock=clock, **kwargs)
    return outcome, probes


def test_non_200_answers_are_at_most_ten_a_second():
    outcome, probes = run_wait(lambda t: Answer(503), timeout=5)
    assert not outcome.ready and outcome.answered
    assert len(probes) <= 5 * 10 + 1
    gaps = [b - a for a, b in zip(probes, probes[1:])]
    assert min(gaps) >= readiness.ANSWERED_INTERVAL - 1e-9


def test_refused_probes_poll_fast_and_report_no_proxy():
    outcome, probes = run_wait(lambda t: Answer(error="refused", refused=True), timeout=1)
    assert not outcome.ready and not outcome.answered
    assert len(probes) >= 30  # every 20 ms: a proxy that starts listening is seen at once


def test_ready_as_soon_as_200():
    outcome, probes = run_wait(lambda t: Answer(200) if t >= 0.5 else Answer(503), timeout=0)
    assert outcome.ready
    assert 0.5 <= outcome.waited <= 0.5 + readiness.ANSWERED_INTERVAL + 0.01


@pytest.mark.parametrize("timeout", [0.5, 0.55, 0.59, 1.0, 2.345])
def test_the_last_probe_before_the_deadline_gets_a_whole_budget(timeout):
    """A probe cut short would time out and the timeout line would name that, not the 503."""
    budgets = []
    slow = 0.02  # each answer takes 20 ms: a probe with less budget would time out
    outcome, probes = run_wait(lambda t: Answer(503), timeout, cost=slow, budgets=budgets)
    assert budgets and min(budgets) == readiness.PROBE_TIMEOUT
    assert outcome.last == Answer(503)
    assert max(probes) < timeout, "no probe starts at or past the deadline"
    assert timeout - 1e-9 <= outcome.waited <= timeout + slow + 1e-9


def test_no_proxy_grace_ends_the_wait_when_nothing_listens_anywhere():
    asked = []
    outcome, probes = run_wait(lambda t: REFUSED, timeout=10, no_proxy_grace=1.0,
                               anything_listens=lambda: asked.append(1) or False)
    assert outcome.absent and not outcome.ready and not outcome.answered
    assert 1.0 <= outcome.waited < 1.0 + readiness.REFUSED_INTERVAL + 0.01
    assert asked == [1]


def test_a_listening_quit_port_means_a_proxy_is_there():
    """pilot-agent's 15020 listens long before Envoy's 15021: keep waiting, as without the grace."""
    asked = []
    outcome, _ = run_wait(lambda t: REFUSED, timeout=3, no_proxy_grace=1.0,
                          anything_listens=lambda: asked.append(1) or True)
    assert not outcome.absent and outcome.waited == pytest.approx(3)
    assert asked == [1], "decided once"


def test_any_answer_before_the_grace_means_a_proxy_is_there():
    asked = []
    outcome, _ = run_wait(lambda t: Answer(503) if t > 0.3 else REFUSED, timeout=3, no_proxy_grace=1.0,
                          anything_listens=lambda: asked.append(1) or False)
    assert not outcome.absent and outcome.answered and asked == []


def test_a_proxy_that_starts_listening_within_the_grace_is_waited_for():
    outcome, _ = run_wait(lambda t: REFUSED if t < 0.8 else Answer(503) if t < 1.5 else Answer(200),
                          timeout=10, no_proxy_grace=1.0, anything_listens=lambda: False)
    assert outcome.ready and not outcome.absent


def test_stop_signal_ends_the_wait():
    clock = FakeClock()
    sent = iter([None, signal.SIGUSR1, signal.SIGTERM])

    def next_signal(seconds):
        clock.now += seconds / 2
        return next(sent)
    outcome = readiness.wait_for_proxy(parse_url("http://h/r"), 0, Recorder(),
                                       probe=lambda url, budget: Answer(503),
                                       next_signal=next_signal, clock=clock)
    assert outcome.signal == signal.SIGTERM and not outcome.ready


# -- logs -------------------------------------------------------------------------------
def test_text_log_is_one_prefixed_line():
    stream = io.StringIO()
    Logger("text", "info", stream).info("proxy_ready", "proxy ready after 1.2s", waited=1.2)
    assert stream.getvalue() == "sidecar-killer: proxy ready after 1.2s\n"


def test_json_log_carries_event_and_fields():
    stream = io.StringIO()
    Logger("json", "info", stream).warning("quit_failed", "could not quit", attempts=3)
    record = json.loads(stream.getvalue())
    assert (record["level"], record["event"], record["attempts"], record["message"]) == \
        ("warning", "quit_failed", 3, "could not quit")


def test_quiet_keeps_only_errors():
    stream = io.StringIO()
    log = Logger("text", "quiet", stream)
    log.info("a", "info line")
    log.warning("b", "warning line")
    log.error("c", "error line")
    assert stream.getvalue() == "sidecar-killer: error: error line\n"


def test_a_closed_stderr_is_not_fatal():
    stream = io.StringIO()
    stream.close()
    Logger("text", "info", stream).info("a", "nobody reads this")
