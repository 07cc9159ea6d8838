"""Small hand-written fakes for the unit tests: a clock, a log, a scripted network."""
from entrypoint.http_request import Answer
from entrypoint.proxy import Net, Proxy
from entrypoint.values import parse_url

REFUSED = Answer(error="connection refused", refused=True)
CLOSED = Answer(error="connection closed without an answer")


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Recorder:
    """A Logger that keeps (level, event, message) triples."""
    def __init__(self):
        self.lines = []

    def __getattr__(self, level):
        return lambda event, message, **fields: self.lines.append((level, event, message))


class ScriptedNet:
    """answers(method, url, now) -> Answer for each request; refusing(host, port, now) -> bool.
    Each request costs ``cost`` seconds of fake time; every call is recorded."""
    def __init__(self, clock, answers, refusing=lambda host, port, now: False, cost=0.0):
        self.clock, self.answers, self.refusing, self.cost = clock, answers, refusing, cost
        self.requests = []  # (method, host, port, timeout)
        self.checks = []    # (host, port)

    def request(self, method, url, timeout):
        self.requests.append((method, url.host, url.port, timeout))
        self.clock.now += self.cost
        return self.answers(method, url, self.clock.now)

    def refused(self, host, port, timeout):
        self.checks.append((host, port))
        return self.refusing(host, port, self.clock.now)

    def proxy(self, ready="http://127.0.0.1:15021/healthz/ready",
              quits=("http://127.0.0.1:15020/quitquitquit",)) -> Proxy:
        return Proxy(parse_url(ready), tuple(parse_url(url) for url in quits),
                     Net(self.request, self.refused))


def in_turn(*answers):
    """answers() for ScriptedNet: the given Answers one per request, the last one repeated."""
    calls = []

    def answer(method, url, now):
        calls.append(now)
        return answers[min(len(calls) - 1, len(answers) - 1)]
    return answer
