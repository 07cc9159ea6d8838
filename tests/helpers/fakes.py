"""Small hand-written fakes for the unit tests: time and signals, a log, a scripted network."""
from contextlib import contextmanager

import pytest

from entrypoint import http_request, waiting
from entrypoint.http_request import Answer
from entrypoint.proxy import Net, Proxy
from entrypoint.values import parse_url

REFUSED = Answer(error="connection refused", refused=True)
CLOSED = Answer(error="connection closed without an answer", connected=True)


class FakeSystem:
    """waiting.system for unit tests: a clock that moves only when something waits, and
    signals that arrive at the times given. No real socket is ever waited on."""

    def __init__(self, signals=()):
        self.now = 0.0
        self.signals = sorted(signals)  # [(time, signum)]

    def monotonic(self):
        return self.now

    def poll(self, interest, timeout):
        raise AssertionError("a unit test waited on a real socket")

    def next_signal(self, timeout):
        if self.signals and self.signals[0][0] <= self.now + timeout:
            at, signum = self.signals.pop(0)
            self.now = max(self.now, at)
            return signum
        self.now += timeout
        return None


@contextmanager
def faked_time(signals=()):
    """The one fake of time and signals, installed where every wait in entrypoint/ looks."""
    real, waiting.system = waiting.system, FakeSystem(signals)
    try:
        yield waiting.system
    finally:
        waiting.system = real


@pytest.fixture
def fake_time():
    with faked_time() as system:
        yield system


class Recorder:
    """A Logger that keeps (level, event, message) triples."""
    def __init__(self):
        self.lines = []

    def __getattr__(self, level):
        return lambda event, message, **fields: self.lines.append((level, event, message))


class ScriptedNet:
    """answers(method, url, now) -> Answer for each request; refusing(host, port, now) -> bool.
    Each request takes ``cost`` seconds of fake time (never past its deadline); every call is
    recorded with the time it was given."""
    def __init__(self, system, answers, refusing=lambda host, port, now: False, cost=0.0):
        self.system, self.answers, self.refusing, self.cost = system, answers, refusing, cost
        self.requests = []  # (method, host, port, budget)
        self.checks = []    # (host, port)

    def request(self, method, url, deadline):
        self.requests.append((method, url.host, url.port, deadline.left()))
        yield from waiting.sleep(waiting.Deadline(self.system.now + min(self.cost, deadline.left())))
        return self.answers(method, url, self.system.now)

    def knock(self, host, port, deadline):
        self.checks.append((host, port))
        return http_request.REFUSED if self.refusing(host, port, self.system.now) else http_request.LISTENING
        yield  # a task

    def proxy(self, ready="http://127.0.0.1:15021/healthz/ready",
              quits=("http://127.0.0.1:15020/quitquitquit",)) -> Proxy:
        return Proxy(parse_url(ready), tuple(parse_url(url) for url in quits), Net(self.request, self.knock))


def in_turn(*answers):
    """answers() for ScriptedNet: the given Answers one per request, the last one repeated."""
    calls = []

    def answer(method, url, now):
        calls.append(now)
        return answers[min(len(calls) - 1, len(answers) - 1)]
    return answer
