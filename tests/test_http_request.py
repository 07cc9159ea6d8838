"""The HTTP client's edges that no sidecar shows on loopback: status lines, several addresses."""
import _socket
import errno
import socket

import pytest

from entrypoint import http_request, lookup, waiting
from entrypoint.values import parse_url
from entrypoint.http_request import BadAnswer, status_of


@pytest.mark.parametrize("head, status", [
    (b"", None), (b"HT", None), (b"HTTP/1.1 200 OK\r\n", 200), (b"HTTP/1.0 404\r\n", 404),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 x\r\n", 503), (b"HTTP/1.1 100 Continue\r\n", None),
    (b"HTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\n", 200),
    (b"HTTP/1.1 101 Switching\r\n", 101), (b"HTTP/1.1 100 C\n\nHTTP/1.1 200\n", 200), (b"HTTP/1.1 20", None),
])
def test_the_final_status_line_is_all_that_is_read(head, status):
    assert status_of(head) == status


@pytest.mark.parametrize("head", [b"\x00junk", b"SSH-2.0-OpenSSH\r\n", b"HTTP/1.1 2000\r\n", b"HTTP/2 200\r\n",
                                  b"HTTP/1.1 abc\r\n"])
def test_anything_else_is_a_bad_answer_at_once(head):
    with pytest.raises(BadAnswer):
        status_of(head)


class Unreachable(_socket.socket):
    """An IPv6 socket in a pod with IPv6 off: every connect fails with EADDRNOTAVAIL."""
    def connect_ex(self, address):
        return errno.EADDRNOTAVAIL if self.family == socket.AF_INET6 else super().connect_ex(address)


def test_a_host_whose_only_reachable_address_refuses_is_refused(monkeypatch):
    """localhost as 127.0.0.1 (refused) and ::1 (not available here): nothing listens."""
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(http_request.socket, "socket", Unreachable)
    knock = http_request.knock("localhost", port, waiting.Deadline.after(1.0))
    assert waiting.run_one(knock) == http_request.REFUSED


def test_an_unreachable_address_is_not_a_listening_port(monkeypatch):
    """Every address unavailable: neither refused nor listening, and a request says why."""
    monkeypatch.setattr(http_request.socket, "socket", Unreachable)
    assert waiting.run_one(http_request.knock("::1", 9, waiting.Deadline.after(1.0))) == http_request.UNKNOWN
    answer = waiting.run_one(http_request.request("GET", parse_url("http://[::1]:9/"), waiting.Deadline.after(1.0)))
    assert answer.status is None and not answer.refused and not answer.connected
    assert answer.error == "Cannot assign requested address"


def test_localhost_needs_no_lookup():
    """localhost is loopback (RFC 6761): no thread, no resolver, whatever /etc/hosts says."""
    found = waiting.run_one(lookup.addresses("localhost", 80, waiting.Deadline.after(1.0)))
    assert found == [(socket.AF_INET, ("127.0.0.1", 80)), (socket.AF_INET6, ("::1", 80, 0, 0))]


def test_a_flood_of_1xx_ends_at_the_read_limit_not_the_deadline():
    """20 KiB of `100 Continue` sent at once: the request ends at HEAD_LIMIT bytes, long before
    its 5 s deadline."""
    import threading
    import time
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def flood():
        conn, _ = listener.accept()
        conn.recv(1024)
        try:
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" * 800)
        except OSError:
            pass
        time.sleep(2)
        conn.close()
    threading.Thread(target=flood, daemon=True).start()
    started = time.monotonic()
    answer = waiting.run_one(http_request.request("GET", parse_url(f"http://127.0.0.1:{port}/"),
                                                  waiting.Deadline.after(5)))
    listener.close()
    assert answer.error == "bad HTTP answer (no status within the first 16 KiB)"
    assert time.monotonic() - started < 1
