"""The mesh proxy as this run knows it: its endpoints, which of its ports were seen listening,
and whether it is absent from the pod.

What was seen is the evidence a quit is judged by (quitting.py): a port that refuses now
proves the proxy gone only if something listened there earlier in this run.
"""
from __future__ import annotations

from collections import namedtuple

from entrypoint import http_request
from entrypoint.values import Url, address


class Net(namedtuple("Net", "request refused", defaults=(http_request.request, http_request.refused))):
    """The two ways we touch the network; tests pass their own."""
    __slots__ = ()


class Proxy:
    def __init__(self, ready_url: Url, quit_urls: tuple, net: Net = Net()):
        self.ready_url = ready_url
        self.quit_urls = tuple(quit_urls)
        self.net = net
        self.seen: set = set()   # (host, port) that accepted a connection in this run
        self.absent = False      # nothing listened anywhere for the whole no-proxy grace
        self.native = ""         # why it is a native sidecar, which the kubelet stops; "": classic

    @property
    def ports(self) -> list:
        """Every (host, port) of the proxy, the ready port first."""
        urls = (self.ready_url,) + self.quit_urls
        return list(dict.fromkeys((url.host, url.port) for url in urls))

    def where(self) -> str:
        return ", ".join(address(host, port) for host, port in self.ports)

    def _request(self, method: str, url: Url, timeout: float) -> http_request.Answer:
        answer = self.net.request(method, url, timeout)
        if not answer.refused:
            self.seen.add((url.host, url.port))
        return answer

    def probe(self, timeout: float) -> http_request.Answer:
        return self._request("GET", self.ready_url, timeout)

    def post(self, url: Url, timeout: float) -> http_request.Answer:
        return self._request("POST", url, timeout)

    def listening(self, timeout: float) -> bool:
        """Does any of the proxy's ports accept a connection now? Within ``timeout`` for all."""
        found = False
        share = timeout / len(self.ports)
        for host, port in self.ports:
            if not self.net.refused(host, port, share):
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

    def gone(self, url: Url, timeout: float) -> tuple:
        """The evidence ports of ``url`` if they all refuse now (the proxy is gone), else ()."""
        ports = self.evidence(url)
        return ports if ports and all(self.net.refused(host, port, timeout) for host, port in ports) else ()
