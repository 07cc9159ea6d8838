"""A fake istio-proxy that answers the way Istio's sidecar does (docs/when-to-use.md).

- readiness port (15021) ``GET /healthz/ready``: connection refused until ``listen_after``
  seconds have passed, then 503 until ``ready_after`` seconds, then 200;
- agent port (15020) ``POST /quitquitquit``: 200 "OK", then both ports close (pilot-agent
  and Envoy exit); any other method 405; a caller not on loopback 403.

``mesh="linkerd"`` serves Linkerd's admin port instead (4191): ``GET /ready`` and
``POST /shutdown`` on one port; ``quit_mode="disabled"`` answers 404 "shutdown endpoint is not
enabled", as proxies since v2.236 do unless the endpoint is enabled. ``mesh="consul"``:
Envoy's admin ``GET /ready`` (19000) and consul-dataplane's ``/graceful_shutdown`` (20600, any
method: 200 at once; with ``quit_exit`` the ports close that much later, the shutdown grace).
``mesh="kuma"``: ``GET /ready`` (9902) and Envoy's admin ``POST /quitquitquit`` (9901).

``quit_mode`` turns the quit endpoint into a failure for tests: ``status:500`` answers
500, ``hang`` accepts and never answers, ``refuse`` never listens, ``close`` closes the
connection without answering (Envoy quit through a routed listener exits before it answers).
``quit_exit`` (seconds): after a quit POST, whatever the answer, both ports stop listening that
much later, as the proxy exits (``close`` with 0.05 is Envoy's routed quit; ``status:503`` with a
delay, a proxy that exits while a retry is under way). None: they keep listening.
``start_after`` (seconds): nothing listens at all until then, as when the kubelet starts the
proxy's container after the app's (pulling its image); ``listen_after`` and ``ready_after``
count from there.

Usable in-process (``FakeSidecar``) or as a program (the fake istio-proxy container):
``python3 fake_sidecar.py --ready-port 15021 --quit-port 15020 --ready-after 0.5``
prints one JSON line per request on stdout (``t`` since start, ``mono`` the absolute
monotonic clock) and exits 0 after a successful quit.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    at: float  # time.monotonic() when answered
    port: str  # "ready" or "quit"
    method: str
    path: str
    status: int | None  # None: never answered (hang)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@dataclass
class FakeSidecar:
    ready_port: int = 0
    quit_port: int = 0
    host: str = "127.0.0.1"
    listen_after: float = 0.0
    ready_after: float = 0.0
    quit_mode: str = "ok"  # ok | status:NNN | hang | refuse | close | disabled (linkerd)
    quit_exit: float | None = None  # after a quit POST, stop listening this much later
    start_after: float = 0.0  # the whole sidecar starts this late
    mesh: str = "istio"    # istio | linkerd | consul | kuma
    on_quit: object = None  # called after a successful quit (the program exits)
    requests: list = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._started = None
        self._ready_server = None
        self._quit_server = None
        self._closed = threading.Event()
        self._hang = threading.Event()
        self.quit_done = threading.Event()

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> "FakeSidecar":
        if self.start_after > 0:
            if not (self.ready_port and (self.quit_port or self.mesh == "linkerd")):
                raise ValueError("start_after needs fixed ports")
            self._started = time.monotonic() + self.start_after  # ready_after counts from here
            timer = threading.Timer(self.start_after, self._start_now)
            timer.daemon = True
            timer.start()
            return self
        return self._start_now()

    def _start_now(self) -> "FakeSidecar":
        if self._closed.is_set():
            return self
        self._started = time.monotonic()
        # The agent (15020) listens from the start; Envoy's listener (15021) after listen_after.
        if self.quit_mode != "refuse" and self.mesh != "linkerd":
            self._quit_server = self._serve(self.quit_port, "quit")
            self.quit_port = self._quit_server.server_address[1]
        if self.listen_after <= 0:
            self._open_ready()
        else:
            if not self.ready_port:
                raise ValueError("listen_after needs a fixed ready_port")
            timer = threading.Timer(self.listen_after, self._open_ready)
            timer.daemon = True
            timer.start()
        return self

    def _open_ready(self):
        if self._closed.is_set():
            return
        self._ready_server = self._serve(self.ready_port, "ready")
        self.ready_port = self._ready_server.server_address[1]

    def _serve(self, port: int, role: str) -> _Server:
        sidecar = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                sidecar._handle(self, role, "GET")

            def do_POST(self):
                sidecar._handle(self, role, "POST")

            def do_PUT(self):
                sidecar._handle(self, role, "PUT")

            def do_HEAD(self):
                sidecar._handle(self, role, "HEAD")

        server = _Server((self.host, port), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return server

    def close(self):
        """Both ports stop listening, as when pilot-agent and Envoy exit."""
        self._closed.set()
        self._hang.set()
        for server in (self._ready_server, self._quit_server):
            if server is not None:
                server.shutdown()
                server.server_close()

    def _exit(self):
        self.close()
        self.quit_done.set()  # the program ends

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- what the test reads -------------------------------------------------------
    @property
    def ready_path(self) -> str:
        return "/healthz/ready" if self.mesh == "istio" else "/ready"

    @property
    def quit_path(self) -> str:
        return {"linkerd": "/shutdown", "consul": "/graceful_shutdown"}.get(self.mesh, "/quitquitquit")

    @property
    def ready_url(self) -> str:
        return f"http://{self.host}:{self.ready_port}{self.ready_path}"

    @property
    def quit_url(self) -> str:
        port = self.ready_port if self.mesh == "linkerd" else self.quit_port
        return f"http://{self.host}:{port}{self.quit_path}"

    def requests_for(self, port: str, status: int | None = -1) -> list:
        with self._lock:
            return [r for r in self.requests
                    if r.port == port and (status == -1 or r.status == status)]

    @property
    def quits(self) -> list:
        return [r for r in self.requests if r.method == "POST" and r.path == self.quit_path]

    # -- Istio's answers -----------------------------------------------------------
    def _answer(self, role: str, method: str, path: str, client: str) -> tuple[int | None, bytes]:
        if self.mesh == "linkerd" and path == "/shutdown":
            role = "quit"
        if role == "ready":
            if path != self.ready_path:
                return 404, b""
            if time.monotonic() - self._started < self.ready_after:
                return 503, b"Envoy proxy is NOT ready" if self.mesh == "istio" else b"not ready\n"
            return 200, b"" if self.mesh == "istio" else b"ready\n"
        if path != self.quit_path:
            return 404, b"404 page not found\n"
        if self.quit_mode == "disabled":
            return 404, b"shutdown endpoint is not enabled\n"
        if not ipaddress.ip_address(client).is_loopback:
            return 403, b"forbidden\n"
        if method != "POST" and self.mesh != "consul":  # consul-dataplane takes any method
            return 405, b"Method Not Allowed\n"
        if self.quit_mode in ("hang", "close"):
            return None, b""
        if self.quit_mode.startswith("status:"):
            return int(self.quit_mode.split(":", 1)[1]), b"internal error\n"
        return 200, b"OK"

    def _handle(self, handler: BaseHTTPRequestHandler, role: str, method: str):
        path = handler.path.split("?", 1)[0]
        status, body = self._answer(role, method, path, handler.client_address[0])
        with self._lock:
            self.requests.append(Request(time.monotonic(), role, method, path, status))
        if self.quit_exit is not None and path == self.quit_path and status != 403 \
                and (method == "POST" or self.mesh == "consul"):
            timer = threading.Timer(self.quit_exit, self._exit)  # the proxy exits, whatever it answered
            timer.daemon = True
            timer.start()
        if status is None:
            if self.quit_mode == "close" and path == self.quit_path:
                handler.close_connection = True  # closed without a response
                return
            self._hang.wait(60)  # accept, never answer
            return
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(body)
        handler.wfile.flush()
        handler.close_connection = True
        if path == self.quit_path and status == 200:
            if self.quit_exit is None:
                self.quit_done.set()  # with quit_exit, the program ends when the ports close
            if self.on_quit is not None:
                self.on_quit()


# Each mesh's proxy ports as its sidecar serves them (sidecar-killer's --mesh presets).
MESH_PORTS = {"istio": (15021, 15020), "linkerd": (4191, 4191), "consul": (19000, 20600), "kuma": (9902, 9901)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ready-port", type=int, default=None, help="default: the mesh's (istio 15021)")
    parser.add_argument("--quit-port", type=int, default=None, help="default: the mesh's (istio 15020)")
    parser.add_argument("--listen-after", type=float, default=0.0)
    parser.add_argument("--ready-after", type=float, default=0.0)
    parser.add_argument("--quit-mode", default="ok")
    parser.add_argument("--quit-exit", type=float, default=None)
    parser.add_argument("--mesh", default="istio", choices=("istio", "linkerd", "consul", "kuma"))
    parser.add_argument("--exit-after", type=float, default=0.0,
                        help="exit 0 after this many seconds even without a quit (0: never)")
    args = parser.parse_args(argv)
    ready_port, quit_port = MESH_PORTS[args.mesh]

    started = time.monotonic()
    sidecar = FakeSidecar(ready_port=args.ready_port or ready_port, quit_port=args.quit_port or quit_port,
                          host=args.host,
                          listen_after=args.listen_after, ready_after=args.ready_after,
                          quit_mode=args.quit_mode, quit_exit=args.quit_exit, mesh=args.mesh)
    printed = 0

    def report():
        nonlocal printed
        with sidecar._lock:
            new = sidecar.requests[printed:]
            printed = len(sidecar.requests)
        for r in new:
            # mono: the absolute CLOCK_MONOTONIC, shared by every container on the host, so
            # tests can order these answers against what an app container printed.
            # wall: the same moment on the host's clock (the demo's timeline merges containers).
            wall = time.time() - (time.monotonic() - r.at)
            print(json.dumps({"t": round(r.at - started, 4), "mono": round(r.at, 6), "wall": round(wall, 6),
                              "port": r.port,
                              "method": r.method, "path": r.path, "status": r.status}), flush=True)

    sidecar.start()
    print(json.dumps({"t": 0.0, "event": "started", "wall": round(time.time(), 6)}), flush=True)
    deadline = started + args.exit_after if args.exit_after > 0 else None
    while not sidecar.quit_done.wait(0.05):
        report()
        if deadline is not None and time.monotonic() > deadline:
            break
    time.sleep(0.05)  # let the quit answer reach the caller before the ports close
    report()
    sidecar.close()
    print(json.dumps({"t": round(time.monotonic() - started, 4), "event": "exited",
                      "wall": round(time.time(), 6)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
