"""Wait until the proxy says it is ready, promptly but without flooding its log."""
from __future__ import annotations

import time
from collections import namedtuple
from collections.abc import Callable

from entrypoint import signals
from entrypoint.http_request import Interrupted
from entrypoint.proxy import Proxy

# Refused costs the sidecar nothing (Envoy is not listening yet): poll often to start promptly.
REFUSED_INTERVAL = 0.02
# Every non-200 answer makes pilot-agent log "Envoy proxy is NOT ready": at most 10 a second.
ANSWERED_INTERVAL = 0.1
# A probe's budget, cut to what is left before the ready deadline: a proxy that hangs holds
# the wait no longer than the deadline.
PROBE_TIMEOUT = 1.0
# No probe starts closer to the deadline than this: it would have no time for an answer, and
# the wait would end on "no answer within 0.0s" rather than on the proxy's last real answer.
MIN_PROBE_TIME = 0.1
# How often a wait that goes on says so.
PROGRESS_INTERVAL = 5.0


class Outcome(namedtuple("Outcome", "ready waited last signal", defaults=(None,))):
    """ready: bool; waited: seconds; last: the last Answer or None; signal: a STOP_WAITING
    signal that ended the wait. What was seen of the proxy is the Proxy's."""
    __slots__ = ()


def wait_for_proxy(proxy: Proxy, timeout: float, log, no_proxy_grace: float = 0.0,
                   next_signal: Callable[[float], int | None] = signals.next_signal,
                   clock: Callable[[], float] = time.monotonic,
                   progress: Callable[[float, object], None] = lambda waited, last: None) -> Outcome:
    """Probe the ready URL until it answers 200, ``timeout`` passes (0: never) or we are told to stop.

    Probes start on a schedule (every ANSWERED_INTERVAL after a non-200 answer, REFUSED_INTERVAL
    after a refusal); the time in between is spent in sigtimedwait, so a signal ends it at once,
    and a probe under way is cut short by one (http_request). No probe outlives the deadline.

    ``no_proxy_grace`` (0: off): once that many seconds pass with every probe refused, look at
    the proxy's other ports once; if nothing listens there either, the pod has no proxy.
    ``progress(waited, last)`` is called every PROGRESS_INTERVAL while the wait goes on.
    """
    start = clock()
    next_progress = start + PROGRESS_INTERVAL
    deadline = start + timeout if timeout > 0 else None
    grace_over = no_proxy_grace <= 0
    last = None
    while True:
        probe_start = clock()
        budget = PROBE_TIMEOUT if deadline is None else min(PROBE_TIMEOUT, deadline - probe_start)
        try:
            last = proxy.probe(budget)
        except Interrupted:
            pass  # the stop signal is collected below, at once
        else:
            if last.status == 200:
                return Outcome(True, clock() - start, last)
            log.debug("proxy_not_ready", f"proxy not ready: {last.describe()}", answer=last.describe())
            if not grace_over and clock() - start >= no_proxy_grace:
                grace_over = True  # decided once: a proxy seen listening is waited for as usual
                budget = PROBE_TIMEOUT if deadline is None else min(PROBE_TIMEOUT, deadline - clock())
                try:
                    if not proxy.seen and not proxy.listening(max(budget, 0.001)):
                        proxy.absent = True
                        return Outcome(False, clock() - start, last)
                except Interrupted:
                    pass  # collected below, as after a probe
        refused = last is not None and last.refused
        next_probe = probe_start + (REFUSED_INTERVAL if refused else ANSWERED_INTERVAL)
        if deadline is not None and next_probe > deadline - MIN_PROBE_TIME:
            next_probe = deadline  # no probe at the deadline: wait for it, then report
        # Sleep until the next probe, but wake for signals (one is pending if a probe was cut).
        while True:
            signum = next_signal(max(next_probe - clock(), 0))
            if signum in signals.STOP_WAITING:
                return Outcome(False, clock() - start, last, signum)
            if signum in signals.JOB_STOP:
                signals.stop_self()  # no app yet: the job is just us
            elif signum is not None and signum not in (signals.signal.SIGCHLD, signals.signal.SIGCONT):
                log.debug("signal_ignored", f"ignoring {signals.name(signum)}: the app has not started",
                          signal=signals.name(signum))
            if signum is None and clock() >= next_probe:
                break
        if deadline is not None and clock() >= deadline:
            return Outcome(False, clock() - start, last)
        if clock() >= next_progress:
            progress(clock() - start, last)
            next_progress += PROGRESS_INTERVAL
