"""The HTTP client's edges that no sidecar shows on loopback: status lines, several addresses."""
import errno
import socket

import pytest

from entrypoint import http_request
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


class Unreachable(socket.socket):
    """An IPv6 socket in a pod with IPv6 off: every connect fails with EADDRNOTAVAIL."""
    def connect_ex(self, address):
        return errno.EADDRNOTAVAIL if self.family == socket.AF_INET6 else super().connect_ex(address)


def test_a_host_whose_only_reachable_address_refuses_is_refused(monkeypatch):
    """localhost as 127.0.0.1 (refused) and ::1 (not available here): nothing listens."""
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(http_request, "_addresses",
                        lambda host, p, deadline, interrupted: [(socket.AF_INET6, ("::1", p, 0, 0)),
                                                                (socket.AF_INET, ("127.0.0.1", p))])
    monkeypatch.setattr(http_request.socket, "socket", Unreachable)
    assert http_request.refused("localhost", port, 1.0)
