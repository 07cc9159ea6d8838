"""Host names to addresses without holding the wait, and without piling up threads.

getaddrinfo() can be neither bounded nor interrupted, so a name is looked up in a thread of its
own while the task that needs it waits (waiting.py). At most one lookup is in flight at any
time: a task that needs a name while a lookup runs waits for that one, so a resolver that
black-holes costs one thread, not one per probe. IP literals and localhost need no lookup (every
mesh preset is an IP literal). Where no thread can be started (the pod's pid limit is full), the
name is looked up on this thread: bounded then by the resolver's own timeouts and attempts
(/etc/resolv.conf), not by the caller's deadline.
"""
import _thread
import _socket as socket  # the C module: socket.py brings enum and selectors

from entrypoint import waiting
from entrypoint.values import ip_family

# getaddrinfo needs far less than the default 8 MiB stack: a small one still starts where the
# address space is tight (RLIMIT_AS).
_thread.stack_size(256 * 1024)


class _Lookup:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.result = None  # the getaddrinfo list, or the OSError it raised; None while it runs

    def __call__(self) -> None:
        try:
            # bytes: a str host name would load the idna codec.
            self.result = socket.getaddrinfo(self.host.encode("ascii"), self.port, type=socket.SOCK_STREAM)
        except OSError as error:
            self.result = error


_in_flight: _Lookup | None = None


def addresses(host: str, port: int, deadline: waiting.Deadline):
    """A task: [(family, sockaddr)] for host:port; TimeoutError at the deadline, OSError when
    the name does not resolve."""
    global _in_flight
    family = ip_family(host)
    if family is not None:
        return [(family, (host, port))]
    if host.lower() in ("localhost", "localhost."):  # RFC 6761: always loopback
        return [(socket.AF_INET, ("127.0.0.1", port)), (socket.AF_INET6, ("::1", port, 0, 0))]
    while _in_flight is not None and _in_flight.result is None:  # one at a time
        if _in_flight.host == host and _in_flight.port == port:
            break  # the answer we need is on its way
        yield from waiting.sleep(deadline.within(waiting.SLICE))
        if deadline.expired():
            raise TimeoutError
    lookup = _in_flight
    if lookup is None or lookup.result is not None or lookup.host != host or lookup.port != port:
        lookup = _Lookup(host, port)
        try:
            _thread.start_new_thread(lookup, ())
        except RuntimeError:  # no thread can be started: the resolver's own bounds hold
            lookup()
        _in_flight = lookup
    while lookup.result is None:
        yield from waiting.sleep(deadline.within(waiting.SLICE))
        if deadline.expired() and lookup.result is None:
            raise TimeoutError
    if isinstance(lookup.result, OSError):
        raise lookup.result
    return [(family, address) for family, _, _, _, address in lookup.result]
