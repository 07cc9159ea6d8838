"""One bounded HTTP request to a sidecar endpoint, with every failure turned into an Answer.

HTTP/1.1 on a plain socket, sent and read the way http.client does it (same request bytes,
same limits, same failure names), without its import: http.client pulls in the email
package, a fifth of the frozen binary's start-up, for headers we never look at.
"""
from __future__ import annotations

import socket
from collections import namedtuple

from entrypoint.values import Url

MAX_LINE = 65536   # http.client's _MAXLINE
MAX_HEADERS = 100  # http.client's _MAXHEADERS


class Answer(namedtuple("Answer", "status error refused", defaults=(None, "", False))):
    """status: the HTTP status, None when nothing answered; error: why nothing answered;
    refused: nothing listens, which costs the sidecar nothing, not even a log line."""
    __slots__ = ()

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else self.error


class InvalidURL(ValueError):
    """A control character in the path or host (http.client refuses to send those too)."""


class BadAnswer(Exception):
    """Something answered, but not HTTP; named as http.client names the case."""


def request(method: str, url: Url, timeout: float) -> Answer:
    """Send one request with a fresh connection; never raises, never blocks past ``timeout``."""
    data = request_bytes(method, url)
    try:
        # ASCII bytes: getaddrinfo() would otherwise load the idna codec (re, unicodedata).
        host = url.host.encode("ascii") if url.host.isascii() else url.host
        with socket.create_connection((host, url.port), max(timeout, 0.001)) as sock:
            sock.sendall(data)
            with sock.makefile("rb") as answer:
                return Answer(read_answer(answer, method))
    except ConnectionRefusedError:
        return Answer(error="connection refused", refused=True)
    except TimeoutError:
        return Answer(error=f"no answer within {timeout:.1f}s")
    except OSError as error:
        return Answer(error=error.strerror or str(error))
    except BadAnswer as error:
        return Answer(error=f"bad HTTP answer ({error})")


def request_bytes(method: str, url: Url) -> bytes:
    """What http.client's HTTPConnection.request() sends for our two requests."""
    for text in (url.path, url.host):
        found = next((c for c in text if c <= " " or c == "\x7f"), None)
        if found is not None:
            raise InvalidURL(f"URL can't contain control characters. {text!r} (found at least {found!r})")
    try:
        host = url.host.encode("ascii")
    except UnicodeEncodeError:
        host = url.host.encode("idna")
    if ":" in url.host:  # IPv6
        host = b"[" + host + b"]"
    if url.port != 80:
        host += b":%d" % url.port
    body_length = b"Content-Length: 0\r\n" if method == "POST" else b""  # the empty body
    return (f"{method} {url.path} HTTP/1.1\r\n".encode("ascii") + b"Host: " + host
            + b"\r\nAccept-Encoding: identity\r\n" + body_length
            + b"User-Agent: sidecar-killer\r\nConnection: close\r\n\r\n")


def _line(answer) -> bytes:
    line = answer.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise BadAnswer("LineTooLong")
    return line


def _headers(answer) -> dict:
    """Header fields, lower-case name -> first value; up to the empty line."""
    fields: dict = {}
    for _ in range(MAX_HEADERS + 1):
        line = _line(answer)
        if line in (b"\r\n", b"\n", b""):
            return fields
        name, colon, value = line.decode("iso-8859-1").partition(":")
        if colon:
            fields.setdefault(name.strip().lower(), value.strip())
    raise BadAnswer("HTTPException")  # http.client: "got more than 100 headers"


def _exactly(answer, size: int) -> None:
    if len(answer.read(size)) < size:
        raise BadAnswer("IncompleteRead")


def read_answer(answer, method: str) -> int:
    """The status of the answer, read to its end as http.client's getresponse() + read() do."""
    while True:
        line = _line(answer)
        if not line:  # http.client's RemoteDisconnected is a ConnectionResetError
            raise ConnectionResetError("Remote end closed connection without response")
        parts = line.decode("iso-8859-1").split(None, 2)
        version = parts[0] if len(parts) >= 2 else ""
        try:
            status = int(parts[1]) if version.startswith("HTTP/") else 0
        except ValueError:
            status = 0
        if not 100 <= status <= 999:
            raise BadAnswer("BadStatusLine")
        if status != 100:
            break
        _headers(answer)  # skip a "100 Continue" and its headers
    if version not in ("HTTP/1.0", "HTTP/0.9") and not version.startswith("HTTP/1."):
        raise BadAnswer("UnknownProtocol")
    fields = _headers(answer)
    if method == "HEAD" or status in (204, 304) or status < 200:
        return status
    if fields.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = _line(answer).split(b";", 1)[0]
            try:
                size = int(size_line, 16)
            except ValueError:
                raise BadAnswer("IncompleteRead") from None
            if size == 0:
                while _line(answer) not in (b"\r\n", b"\n", b""):
                    pass
                return status
            _exactly(answer, size + 2)  # the chunk and its CRLF
    length = fields.get("content-length")
    try:
        length = int(length) if length is not None else None
    except ValueError:
        length = None
    if length is not None and length >= 0:
        _exactly(answer, length)
    else:
        answer.read()  # to the end: we asked the peer to close the connection
    return status
