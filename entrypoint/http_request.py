"""One bounded HTTP request to a sidecar endpoint, with every failure turned into an Answer."""
from __future__ import annotations

import http.client
import socket
from collections import namedtuple

from entrypoint.values import Url


class Answer(namedtuple("Answer", "status error refused", defaults=(None, "", False))):
    """status: the HTTP status, None when nothing answered; error: why nothing answered;
    refused: nothing listens, which costs the sidecar nothing, not even a log line."""
    __slots__ = ()

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else self.error


def _connect(address, timeout, source_address=None):
    """socket.create_connection, with an ASCII host name as bytes: getaddrinfo() of a str
    loads the idna codec (and re, unicodedata with it) on every start."""
    host, port = address
    return socket.create_connection((host.encode("ascii") if host.isascii() else host, port),
                                    timeout, source_address)


def refused(host: str, port: int, timeout: float) -> bool:
    """True if nothing listens at host:port (the connection is refused). A connection that is
    accepted, or any other failure (timeout, unreachable), is False: not proof of absence."""
    try:
        _connect((host, port), max(timeout, 0.001)).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        pass
    return False


def request(method: str, url: Url, timeout: float) -> Answer:
    """Send one request with a fresh connection; never raises, never blocks past ``timeout``."""
    connection = http.client.HTTPConnection(url.host, url.port, timeout=max(timeout, 0.001))
    connection._create_connection = _connect
    try:
        connection.request(method, url.path, body=b"" if method == "POST" else None,
                           headers={"User-Agent": "sidecar-killer", "Connection": "close"})
        response = connection.getresponse()
        response.read()
        return Answer(response.status)
    except ConnectionRefusedError:
        return Answer(error="connection refused", refused=True)
    except TimeoutError:
        return Answer(error=f"no answer within {timeout:.1f}s")
    except OSError as error:
        return Answer(error=error.strerror or str(error))
    except http.client.HTTPException as error:
        return Answer(error=f"bad HTTP answer ({type(error).__name__})")
    finally:
        connection.close()
