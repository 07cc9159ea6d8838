"""A fake sidecar that misbehaves on purpose, on raw sockets, for tests of what the wrapper does
when a proxy does not answer the way fake_sidecar.py does.

Every accepted connection gets the same ``behaviour``; the request head is read first (up to
the blank line, at most 64 KiB, at most 5 s) unless said otherwise:

- ``hang``: never answer; the connection stays open until close().
- ``no-read-hang``: never read nor answer.
- ``trickle-status``: the status line, then headers (Content-Length: 1000000) and body, one
  byte every 0.5 s; a valid 200 that never finishes in a test's lifetime.
- ``trickle-headers``: the status line at once, then endless ``X-A: b`` lines, a byte every 0.2 s.
- ``trickle-body``: a complete head with Content-Length: 1000000, the body a byte every 0.2 s.
- ``continue-flood``: endless ``100 Continue`` interim responses, as fast as the socket takes them.
- ``endless-body``: a chunked 200 with endless 64 KiB chunks, as fast as possible.
- ``huge-body``: a 200 with Content-Length: 104857600 and that many bytes, then close.
- ``huge-length``: a 200 head with Content-Length: 99999999999999999999, no body, left open.
- ``close``: close without answering (FIN).  ``reset``: close with a RST (SO_LINGER 0).
- ``answer-then-vanish``: a complete 200 "OK", then the whole server stops listening.
- ``status:NNN``: a complete answer with that status and a short body, Connection: close.
- ``garbage``: bytes that are not HTTP, then close.
- ``long-header``: a 200 with a 1 MB header line, then close (the body ends at EOF).

In-process: ``with HostileSidecar("hang") as s: ... s.url()``.  As a program:
``python3 hostile_sidecar.py BEHAVIOUR --port N [--host H]`` prints ``listening PORT`` and
runs until SIGTERM/SIGINT.
"""
from __future__ import annotations

import argparse
import signal
import socket
import struct
import threading
import time
from http.client import responses

BEHAVIOURS = ("hang", "no-read-hang", "trickle-status", "trickle-headers", "trickle-body",
              "continue-flood", "endless-body", "huge-body", "huge-length", "close", "reset",
              "answer-then-vanish", "garbage", "long-header")
POLL = 0.1  # socket timeout: how often a blocked accept/recv/send rechecks close()


class HostileSidecar:
    """Listens on 127.0.0.1 (free port unless port= given) and answers every connection per `behaviour`."""

    def __init__(self, behaviour: str, port: int = 0, host: str = "127.0.0.1"):
        if behaviour not in BEHAVIOURS and not (behaviour.startswith("status:")
                                                and behaviour[7:].isdigit()):
            raise ValueError(f"unknown behaviour {behaviour!r}")
        self.behaviour, self.port, self.host = behaviour, port, host
        self.connections = self.bytes_sent = 0
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    def url(self, path: str = "/healthz/ready") -> str:
        return f"http://{self.host}:{self.port}{path}"

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> "HostileSidecar":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        listener.settimeout(POLL)
        self._listener, self.port = listener, listener.getsockname()[1]
        self._spawn(self._accept_loop)
        return self

    def close(self):
        """Stop listening, cut every connection and wait (< 0.5 s) for the threads to end."""
        with self._lock:
            self._stop.set()
            listener, self._listener = self._listener, None
            conns = list(self._conns)
            threads = [t for t in self._threads if t.is_alive()]
        if listener is not None:
            _quietly(listener.shutdown, socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
            listener.close()  # from here on the port refuses
        for conn in conns:
            _quietly(conn.shutdown, socket.SHUT_RDWR)  # wakes blocked recv/send; handlers close
        deadline = time.monotonic() + 0.4
        for thread in threads:
            if thread is not threading.current_thread():  # answer-then-vanish closes from inside
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> "HostileSidecar":
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _spawn(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:  # forget finished threads, keep the ones close() must wait for
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _accept_loop(self):
        listener = self._listener
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:  # the listener was shut down by close()
                return
            with self._lock:
                if self._stop.is_set():
                    conn.close()
                    return
                self.connections += 1
                self._conns.add(conn)
            conn.settimeout(POLL)
            self._spawn(self._handle, conn)

    # -- one connection ------------------------------------------------------------
    def _handle(self, conn: socket.socket):
        try:
            if self.behaviour != "no-read-hang":
                self._read_head(conn)
            if self._behave(conn):  # True: the connection stays open until close()
                self._stop.wait()
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def _read_head(self, conn: socket.socket):
        buf, deadline = b"", time.monotonic() + 5.0
        while (b"\r\n\r\n" not in buf and len(buf) < 65536 and time.monotonic() < deadline
               and not self._stop.is_set()):
            try:
                data = conn.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:  # the client closed (or never sent a whole head)
                break
            buf += data
        end = buf.find(b"\r\n\r\n")
        head = buf[:end + 4] if end >= 0 else buf[:65536]
        if head:
            with self._lock:
                self.requests.append(head)

    def _send(self, conn: socket.socket, data: bytes) -> bool:
        """Write it all; False once the peer went away or close() was called."""
        view = memoryview(data)
        while view:
            if self._stop.is_set():
                return False
            try:
                sent = conn.send(view)
            except socket.timeout:  # the client does not read; recheck close()
                continue
            except OSError:  # BrokenPipe, ConnectionReset, shut down by close()
                return False
            with self._lock:
                self.bytes_sent += sent
            view = view[sent:]
        return True

    def _trickle(self, conn: socket.socket, data: bytes, interval: float) -> bool:
        for i in range(len(data)):
            if not self._send(conn, data[i:i + 1]) or self._stop.wait(interval):
                return False
        return True

    def _behave(self, conn: socket.socket) -> bool:
        """Answer per the behaviour; True: then leave the connection open until close()."""
        b, send = self.behaviour, lambda data: self._send(conn, data)
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"
        if b == "huge-length":
            send(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n")
        elif b == "trickle-status":  # never finishes: a byte every 0.5 s of a 1 MB answer
            self._trickle(conn, head + b"a" * 1000000, 0.5)
        elif b == "trickle-headers":
            if send(b"HTTP/1.1 200 OK\r\n"):
                while self._trickle(conn, b"X-A: b\r\n", 0.2):
                    pass
        elif b == "trickle-body":
            if send(head):
                self._trickle(conn, b"a" * 1000000, 0.2)
        elif b == "continue-flood":
            while send(b"HTTP/1.1 100 Continue\r\n\r\n" * 256):  # batched: fewer syscalls
                pass
        elif b == "endless-body":
            if send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"):
                while send(b"10000\r\n" + b"x" * 65536 + b"\r\n"):
                    pass
        elif b == "huge-body":
            ok, left = send(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n"), 104857600
            while ok and left > 0:
                ok, left = send(b"x" * min(left, 65536)), left - 65536
        elif b == "reset":  # close() with linger 0 sends a RST instead of a FIN
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        elif b == "answer-then-vanish":
            send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
        elif b.startswith("status:"):
            code, body = int(b[7:]), f"status {b[7:]}\n".encode()
            send(f"HTTP/1.1 {code} {responses.get(code, 'Whatever')}\r\nContent-Length: {len(body)}\r\n"
                 f"Connection: close\r\n\r\n".encode() + body)
        elif b == "garbage":
            send(b"\x00\x1b[31mnot http\r\n\r\n")
        elif b == "long-header":  # no length: the (empty) body ends at the close
            send(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 1_000_000 + b"\r\n\r\n")
        if b in ("hang", "no-read-hang", "huge-length"):
            return True
        self._finish(conn)  # "close", the complete answers, and trickles cut short
        if b == "answer-then-vanish":
            self.close()
        return False

    @staticmethod
    def _finish(conn: socket.socket):
        """Close with a FIN: unread input (a POST body) would make the kernel send a RST."""
        conn.setblocking(False)
        try:
            while conn.recv(65536):
                pass
        except OSError:  # nothing more to read, or the peer is gone
            pass
        _quietly(conn.shutdown, socket.SHUT_WR)


def _quietly(call, *args):
    try:
        call(*args)
    except OSError:
        pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("behaviour")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with HostileSidecar(args.behaviour, args.port, args.host) as sidecar:
        print(f"listening {sidecar.port}", flush=True)
        while not stop.wait(0.5):  # a timed wait, so the signal handler gets to run
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
