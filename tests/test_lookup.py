"""Host-name look-ups: never more than one in flight, bounded by the caller's deadline, and
still done where no thread can be started."""
import _thread
import socket
import threading
import time

import pytest

from entrypoint import lookup, waiting


@pytest.fixture
def resolver(monkeypatch):
    """A resolver that black-holes until released; counts the calls."""
    class BlackHole:
        calls = 0
        release = threading.Event()

        def __call__(self, host, port, type=0):
            BlackHole.calls += 1
            self.release.wait(10)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
    fake = BlackHole()
    monkeypatch.setattr(lookup.socket, "getaddrinfo", fake)
    monkeypatch.setattr(lookup, "_in_flight", None)
    yield fake
    fake.release.set()


def test_a_black_hole_resolver_costs_one_thread_however_many_probes(resolver):
    before = _thread._count()
    for _ in range(8):
        with pytest.raises(TimeoutError):
            waiting.run_one(lookup.addresses("proxy.example", 15021, waiting.Deadline.after(0.05)))
    assert resolver.calls == 1 and _thread._count() - before == 1
    resolver.release.set()
    found = waiting.run_one(lookup.addresses("proxy.example", 15021, waiting.Deadline.after(2)))
    assert found == [(socket.AF_INET, ("127.0.0.1", 15021))], "the answer on its way is used"
    assert resolver.calls == 1


def test_another_name_waits_for_the_lookup_in_flight(resolver):
    with pytest.raises(TimeoutError):
        waiting.run_one(lookup.addresses("a.example", 1, waiting.Deadline.after(0.05)))
    with pytest.raises(TimeoutError):
        waiting.run_one(lookup.addresses("b.example", 1, waiting.Deadline.after(0.05)))
    assert resolver.calls == 1


def test_no_thread_to_be_had_looks_the_name_up_here(monkeypatch):
    """The pod's pid limit is full: the lookup runs on this thread instead of failing."""
    def no_thread(function, args):
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(lookup._thread, "start_new_thread", no_thread)
    monkeypatch.setattr(lookup, "_in_flight", None)
    monkeypatch.setattr(lookup.socket, "getaddrinfo",
                        lambda host, port, type=0: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))])
    found = waiting.run_one(lookup.addresses("proxy.example", 80, waiting.Deadline.after(1)))
    assert found == [(socket.AF_INET, ("10.1.2.3", 80))]


def test_a_name_that_does_not_resolve_raises_its_error(monkeypatch):
    def fail(host, port, type=0):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(lookup.socket, "getaddrinfo", fail)
    monkeypatch.setattr(lookup, "_in_flight", None)
    started = time.monotonic()
    with pytest.raises(socket.gaierror):
        waiting.run_one(lookup.addresses("nowhere.example", 80, waiting.Deadline.after(5)))
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "10.0.0.1"])
def test_ip_literals_are_used_as_they_are(host, monkeypatch):
    monkeypatch.setattr(lookup._thread, "start_new_thread", None)  # would fail if called
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    assert waiting.run_one(lookup.addresses(host, 5, waiting.Deadline.after(1))) == [(family, (host, 5))]
