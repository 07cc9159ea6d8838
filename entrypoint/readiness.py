"""Wait until the proxy says it is ready, promptly but without flooding its log."""
from __future__ import annotations

import time
from collections import namedtuple
from collections.abc import Callable

from entrypoint import signals
from entrypoint.values import Url
from entrypoint.http_request import Answer, request

# Refused costs the sidecar nothing (Envoy is not listening yet): poll often to start promptly.
REFUSED_INTERVAL = 0.02
# Every non-200 answer makes pilot-agent log "Envoy proxy is NOT ready": at most 10 a second.
ANSWERED_INTERVAL = 0.1
# Every probe gets this whole budget, the last one before the deadline too: cut short, it would
# time out and the timeout line would name that ("no answer within 0.0s"), not the proxy's answer.
PROBE_TIMEOUT = 1.0


class Outcome(namedtuple("Outcome", "ready waited answered last signal absent", defaults=(None, False))):
    """ready: bool; waited: seconds; answered: did anything ever answer (False: no sidecar
    listening at all); last: the last Answer or None; signal: a STOP_WAITING signal that
    ended the wait; absent: the no-proxy grace passed with nothing listening anywhere."""
    __slots__ = ()


def probe(url: Url, timeout: float = PROBE_TIMEOUT) -> Answer:
    return request("GET", url, timeout)


def wait_for_proxy(url: Url, timeout: float, log,
                   probe: Callable[[Url, float], Answer] = probe,
                   next_signal: Callable[[float], int | None] = signals.next_signal,
                   clock: Callable[[], float] = time.monotonic,
                   no_proxy_grace: float = 0.0,
                   anything_listens: Callable[[], bool] = lambda: True) -> Outcome:
    """Probe ``url`` until it answers 200, ``timeout`` passes (0: never) or we are told to stop.

    Probes start on a schedule (every ANSWERED_INTERVAL after a non-200 answer, REFUSED_INTERVAL
    after a refusal); the time in between is spent in sigtimedwait, so a signal ends it at once.
    No probe starts at or past the deadline, so the wait ends at the deadline with the last real
    answer, or at most one PROBE_TIMEOUT past it when the proxy hangs.

    ``no_proxy_grace`` (0: off): once that many seconds pass with every probe refused, ask
    ``anything_listens`` (the quit ports) once; if nothing does either, the pod has no proxy.
    """
    start = clock()
    deadline = start + timeout if timeout > 0 else None
    answered = False
    grace_over = no_proxy_grace <= 0
    while True:
        probe_start = clock()
        last = probe(url, PROBE_TIMEOUT)
        answered = answered or not last.refused
        now = clock()
        if last.status == 200:
            return Outcome(True, now - start, True, last)
        log.debug("proxy_not_ready", f"proxy not ready: {last.describe()}", answer=last.describe())
        if not grace_over and now - start >= no_proxy_grace:
            grace_over = True  # decided once: a proxy seen listening is waited for as usual
            if not answered and not anything_listens():
                return Outcome(False, now - start, False, last, absent=True)
        next_probe = probe_start + (REFUSED_INTERVAL if last.refused else ANSWERED_INTERVAL)
        if deadline is not None and next_probe >= deadline:
            next_probe = deadline  # no probe at the deadline: wait for it, then report
        # Sleep until the next probe, but wake for signals.
        while (remaining := next_probe - clock()) > 0:
            signum = next_signal(remaining)
            if signum in signals.STOP_WAITING:
                return Outcome(False, clock() - start, answered, last, signum)
            if signum is not None and signum != signals.signal.SIGCHLD:
                log.debug("signal_ignored", f"ignoring {signals.name(signum)}: the app has not started",
                          signal=signals.name(signum))
        if deadline is not None and clock() >= deadline:
            return Outcome(False, clock() - start, answered, last)
