"""One HTTP/1.1 request to a sidecar endpoint, bounded in time and size; a stop signal cuts it short.

Only the status code matters (ready is 200, a quit lands on a 2xx), so the request ends as soon
as the status line of the final answer has arrived: headers and body are never waited for. At
most HEAD_LIMIT bytes are read, however many 1xx answers come first, and nothing outlives the
request's timeout, however slowly the bytes arrive. Every wait for the socket is cut into SLICE
long pieces; between them ``interrupted`` is asked, so a stop signal is acted on at once.
"""
from __future__ import annotations

import _thread
import errno
import os
import select
import socket
import time
from collections import namedtuple
from collections.abc import Callable

from entrypoint.signals import stop_pending
from entrypoint.values import Url, ip_family

SLICE = 0.02
HEAD_LIMIT = 16384


class Interrupted(Exception):
    """A stop signal arrived while a request was under way."""


class BadAnswer(Exception):
    """No HTTP answer came whole (garbage, too long, closed); the message says which."""


class Answer(namedtuple("Answer", "status error refused", defaults=(None, "", False))):
    """status: the HTTP status, None when nothing answered; error: why nothing answered;
    refused: nothing listens, which costs the sidecar nothing, not even a log line."""
    __slots__ = ()

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else self.error


def _wait(sock: socket.socket, events: int, deadline: float, interrupted: Callable[[], bool]) -> None:
    """Until ``sock`` is ready for ``events``; TimeoutError at the deadline, Interrupted on a stop."""
    poller = select.poll()
    poller.register(sock, events)
    while True:
        if interrupted():
            raise Interrupted
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        if poller.poll(min(left, SLICE) * 1000):
            return


def _addresses(host: str, port: int, deadline: float, interrupted) -> list:
    """[(family, sockaddr)]: an IP literal as it is; a name looked up in a thread of its own,
    as getaddrinfo() can be neither bounded nor interrupted."""
    family = ip_family(host)
    if family is not None:
        return [(family, (host, port))]
    found: list = []
    done = _thread.allocate_lock()
    done.acquire()

    def look_up():
        try:
            # bytes: a str host name would load the idna codec.
            found.append(socket.getaddrinfo(host.encode("ascii"), port, type=socket.SOCK_STREAM))
        except OSError as error:
            found.append(error)
        finally:
            done.release()
    _thread.start_new_thread(look_up, ())
    while not done.acquire(timeout=max(min(deadline - time.monotonic(), SLICE), 0)):
        if interrupted():
            raise Interrupted
        if time.monotonic() >= deadline:
            raise TimeoutError
    if isinstance(found[0], OSError):
        raise found[0]
    return [(family, address) for family, _, _, _, address in found[0]]


# Failures that mean "not at this address" (IPv6 off in the pod, no route), not "it did not
# answer": where every address refused or failed so, nothing listens.
_NOT_HERE = {errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.ENETUNREACH, errno.EHOSTUNREACH}


def connect(host: str, port: int, deadline: float, interrupted=stop_pending) -> socket.socket:
    """A connected non-blocking socket; ConnectionRefusedError when nothing listens at any of
    the host's addresses (those that are not reachable from here aside)."""
    errors = []
    for family, address in _addresses(host, port, deadline, interrupted):
        sock = None
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            code = sock.connect_ex(address)
            if code == errno.EINPROGRESS:
                _wait(sock, select.POLLOUT, deadline, interrupted)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except TimeoutError:
            sock.close()
            raise
        except OSError as error:  # no such family here, no route: this address only
            code = error.errno
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        if code == 0:
            return sock
        if sock is not None:
            sock.close()
        errors.append(code)
    if errors and errno.ECONNREFUSED in errors and set(errors) <= _NOT_HERE | {errno.ECONNREFUSED}:
        raise ConnectionRefusedError(errno.ECONNREFUSED, "connection refused")
    code = next((c for c in errors if c != errno.ECONNREFUSED), errno.EADDRNOTAVAIL)
    raise OSError(code, os.strerror(code) if code else "no address")


def refused(host: str, port: int, timeout: float, interrupted=stop_pending) -> bool:
    """True if nothing listens at host:port (the connection is refused). A connection that is
    accepted, or any other failure (timeout, unreachable), is False: not proof of absence."""
    try:
        connect(host, port, time.monotonic() + max(timeout, 0.001), interrupted).close()
    except ConnectionRefusedError:
        return True
    except (OSError, BadAnswer):
        pass
    return False


def status_of(head: bytes) -> int | None:
    """The final answer's status in what was read so far; None while it has not come whole.
    1xx answers (100 Continue, 103 Early Hints) are skipped, as a client must."""
    while True:
        line_end = head.find(b"\n")
        if line_end < 0:
            start = head[:7]  # garbage is refused at once, not after HEAD_LIMIT bytes of it
            if start != b"HTTP/1."[:len(start)]:
                raise BadAnswer("bad HTTP answer (not an HTTP status line)")
            return None
        version, _, rest = head[:line_end].rstrip(b"\r").partition(b" ")
        code = rest[:3]
        if version not in (b"HTTP/1.0", b"HTTP/1.1") or len(code) != 3 or not code.isdigit() \
                or rest[3:4] not in (b"", b" "):
            raise BadAnswer("bad HTTP answer (not an HTTP status line)")
        status = int(code)
        if not 100 <= status < 200 or status == 101:
            return status
        ends = [at + size for at, size in ((head.find(b"\n\r\n", line_end), 3),
                                           (head.find(b"\n\n", line_end), 2)) if at >= 0]
        if not ends:
            return None
        head = head[min(ends):]


def _exchange(sock: socket.socket, message: bytes, deadline: float, interrupted) -> int:
    while message:
        _wait(sock, select.POLLOUT, deadline, interrupted)
        message = message[sock.send(message):]
    head = b""
    while True:
        _wait(sock, select.POLLIN, deadline, interrupted)
        chunk = sock.recv(HEAD_LIMIT - len(head))
        if not chunk:
            raise BadAnswer("connection closed in the middle of the answer" if head
                            else "connection closed without an answer")
        head += chunk
        status = status_of(head)
        if status is not None:
            return status
        if len(head) >= HEAD_LIMIT:
            raise BadAnswer(f"bad HTTP answer (no status within the first {HEAD_LIMIT // 1024} KiB)")


def request(method: str, url: Url, timeout: float, interrupted=stop_pending) -> Answer:
    """Send one request on a fresh connection; never raises but Interrupted, never blocks past
    ``timeout`` seconds."""
    deadline = time.monotonic() + max(timeout, 0.001)
    host = f"[{url.host}]" if ":" in url.host else url.host
    body = "Content-Length: 0\r\n" if method == "POST" else ""
    message = (f"{method} {url.path} HTTP/1.1\r\nHost: {host}:{url.port}\r\n"
               f"User-Agent: sidecar-killer\r\n{body}Connection: close\r\n\r\n").encode("ascii")
    sock = None
    try:
        sock = connect(url.host, url.port, deadline, interrupted)
        return Answer(_exchange(sock, message, deadline, interrupted))
    except ConnectionRefusedError:
        return Answer(error="connection refused", refused=True)
    except TimeoutError:
        return Answer(error=f"no answer within {timeout:.1f}s")
    except BadAnswer as error:
        return Answer(error=str(error))
    except ConnectionResetError:
        return Answer(error="connection reset")
    except OSError as error:
        return Answer(error=error.strerror or str(error))
    finally:
        if sock is not None:
            sock.close()
