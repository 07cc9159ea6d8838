"""One HTTP/1.1 request to a sidecar endpoint, bounded in time and size, as a task (waiting.py).

Only the status code matters (ready is 200, a quit lands on a 2xx), so the request ends as soon
as the status line of the final answer has arrived: headers and body are never waited for. At
most HEAD_LIMIT bytes are read, however many 1xx answers come first, and nothing outlives the
request's deadline, however slowly the bytes arrive. The socket is non-blocking and every wait
for it goes through waiting.py, so requests run side by side on one thread and a stop signal
ends them at once.
"""
import errno
import posix as os  # the C module: os.py brings os.path, stat and _collections_abc
import select
import _socket as socket  # the C module: socket.py brings enum and selectors

from entrypoint import waiting
from entrypoint.lookup import addresses
from entrypoint.values import Url
from entrypoint.record import Record

HEAD_LIMIT = 16384


class BadAnswer(Exception):
    """No HTTP answer came whole (garbage, too long, closed); the message says which."""


class Answer(Record):
    """status: the HTTP status, None when nothing answered; error: why nothing answered;
    refused: nothing listens, which costs the sidecar nothing, not even a log line;
    connected: something accepted the connection (an answer or not): proof that it listens."""
    __slots__ = ()
    fields = ("status", "error", "refused", "connected")
    defaults = {"status": None, "error": "", "refused": False, "connected": False}

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else self.error


_spare_fd = None


def reserve_descriptor() -> None:
    """Hold one descriptor back, so a quit can still open its socket when every other one is
    taken (RLIMIT_NOFILE lowered, or an app that handed us its whole table)."""
    global _spare_fd
    try:
        _spare_fd = os.open("/", os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY)
    except OSError:
        pass


def _socket(family: int) -> socket.socket:
    global _spare_fd
    try:
        return socket.socket(family, socket.SOCK_STREAM)
    except OSError as error:
        if error.errno not in (errno.EMFILE, errno.ENFILE) or _spare_fd is None:
            raise
    os.close(_spare_fd)  # its time has come: the next socket takes its place
    _spare_fd = None
    return socket.socket(family, socket.SOCK_STREAM)


# Failures that mean "not at this address" (IPv6 off in the pod, no route), not "it did not
# answer": where every address refused or failed so, nothing listens.
_NOT_HERE = {errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.ENETUNREACH, errno.EHOSTUNREACH}


def connect(host: str, port: int, deadline: waiting.Deadline):
    """A task: a connected non-blocking socket; ConnectionRefusedError when nothing listens at
    any of the host's addresses (those that are not reachable from here aside)."""
    errors = []
    for family, address in (yield from addresses(host, port, deadline)):
        sock = None
        try:
            sock = _socket(family)
            sock.setblocking(False)
            code = sock.connect_ex(address)
            if code == errno.EINPROGRESS:
                yield from waiting.ready(sock, select.POLLOUT, deadline)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError as error:  # no such family here, no route: this address only
            if isinstance(error, TimeoutError):
                sock.close()
                raise
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


LISTENING, REFUSED, UNKNOWN = "listening", "refused", "unknown"


def knock(host: str, port: int, deadline: waiting.Deadline):
    """A task: LISTENING if host:port accepts a connection, REFUSED if it refuses; UNKNOWN for
    anything else (no answer in time, unreachable, no such name): proof of neither."""
    try:
        (yield from connect(host, port, deadline)).close()
    except ConnectionRefusedError:
        return REFUSED
    except OSError:
        return UNKNOWN
    return LISTENING


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


def _exchange(sock: socket.socket, message: bytes, deadline: waiting.Deadline):
    """A task: the final answer's status."""
    while message:
        yield from waiting.ready(sock, select.POLLOUT, deadline)
        message = message[sock.send(message):]
    head = b""
    while True:
        yield from waiting.ready(sock, select.POLLIN, deadline)
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


def request(method: str, url: Url, deadline: waiting.Deadline):
    """A task: send one request on a fresh connection; its Answer. Never raises, never runs
    past ``deadline``."""
    budget = deadline.left()
    host = f"[{url.host}]" if ":" in url.host else url.host
    body = "Content-Length: 0\r\n" if method == "POST" else ""
    message = (f"{method} {url.path} HTTP/1.1\r\nHost: {host}:{url.port}\r\n"
               f"User-Agent: sidecar-killer\r\n{body}Connection: close\r\n\r\n").encode("ascii")
    sock = None
    try:
        sock = yield from connect(url.host, url.port, deadline)
        return Answer((yield from _exchange(sock, message, deadline)), connected=True)
    except ConnectionRefusedError:
        return Answer(error="connection refused", refused=True)
    except TimeoutError:
        return Answer(error=f"no answer within {budget:.1f}s", connected=sock is not None)
    except BadAnswer as error:
        return Answer(error=str(error), connected=True)
    except ConnectionResetError:
        return Answer(error="connection reset", connected=sock is not None)
    except OSError as error:
        return Answer(error=error.strerror or str(error), connected=sock is not None)
    finally:
        if sock is not None:
            sock.close()
