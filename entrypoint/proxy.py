"""The mesh proxy as this run knows it: its endpoints, and which of its ports were seen
listening.

What was seen is the evidence a quit is judged by (quitting.py): a port that refuses now
proves the proxy gone only if something listened there earlier in this run. Only a connection
accepted counts as seen: an unreachable network or a missing address proves nothing.
"""
from entrypoint import http_request, waiting
from entrypoint.values import Url, address
from entrypoint.record import Record


class Net(Record):
    """The two ways we touch the network, both tasks (waiting.py); tests pass their own."""
    __slots__ = ()
    fields = ("request", "knock")
    defaults = {"request": http_request.request, "knock": http_request.knock}


class Proxy:
    def __init__(self, ready_url: Url, quit_urls: tuple, net: Net = Net()):
        self.ready_url = ready_url
        self.quit_urls = tuple(quit_urls)
        self.net = net
        self.seen: set = set()   # (host, port) that accepted a connection in this run

    @property
    def ports(self) -> list:
        """Every (host, port) of the proxy, the ready port first."""
        urls = (self.ready_url,) + self.quit_urls
        return list(dict.fromkeys((url.host, url.port) for url in urls))

    def where(self) -> str:
        return ", ".join(address(host, port) for host, port in self.ports)

    def _request(self, method: str, url: Url, deadline: waiting.Deadline):
        answer = yield from self.net.request(method, url, deadline)
        if answer.connected or answer.status is not None:
            self.seen.add((url.host, url.port))
        return answer

    def probe(self, deadline: waiting.Deadline):
        """A task: GET the ready URL; its Answer."""
        return (yield from self._request("GET", self.ready_url, deadline))

    def post(self, url: Url, deadline: waiting.Deadline):
        """A task: POST a quit URL; its Answer."""
        return (yield from self._request("POST", url, deadline))

    def listening(self, deadline: waiting.Deadline):
        """A task: does any of the proxy's ports accept a connection now? By ``deadline`` for all."""
        found = False
        share = deadline.left() / len(self.ports)
        for host, port in self.ports:
            if (yield from self.net.knock(host, port, deadline.within(share))) == http_request.LISTENING:
                self.seen.add((host, port))
                found = True
        return found

    def evidence(self, url: Url) -> tuple:
        """The ports that must all refuse for ``url``'s proxy to count as gone: its own port, and
        the ready port on the same host when that was seen; () when ``url``'s port was never
        seen (a refusal there proves nothing: no sidecar, or a wrong URL)."""
        own = (url.host, url.port)
        if own not in self.seen:
            return ()
        ready = (self.ready_url.host, self.ready_url.port)
        same_proxy = ready != own and ready in self.seen and ready[0] == own[0]
        return (own, ready) if same_proxy else (own,)

    def gone(self, url: Url, deadline: waiting.Deadline):
        """A task: the evidence ports of ``url`` if they all refuse now (the proxy is gone), else ()."""
        ports = self.evidence(url)
        for host, port in ports:
            if (yield from self.net.knock(host, port, deadline)) != http_request.REFUSED:
                return ()
        return ports
