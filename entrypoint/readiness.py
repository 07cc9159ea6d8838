"""Wait until the proxy says it is ready, promptly but without flooding its log."""
import _signal as signal  # the C module: signal.py brings enum

from entrypoint import signals, waiting
from entrypoint.proxy import Proxy
from entrypoint.record import Record

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


class Outcome(Record):
    """ready: bool; waited: seconds; last: the last Answer or None; signal: a STOP_WAITING
    signal that ended the wait; absent: nothing listened at any of the proxy's ports for the
    whole no-proxy grace (there is no proxy in this pod)."""
    __slots__ = ()
    fields = ("ready", "waited", "last", "signal", "absent")
    defaults = {"signal": None, "absent": False}


class _Wait:
    def __init__(self, proxy: Proxy, log, progress):
        self.proxy, self.log, self.progress = proxy, log, progress
        self.start = waiting.system.monotonic()
        self.last = None

    def waited(self) -> float:
        return waiting.system.monotonic() - self.start

    def outcome(self, **fields) -> Outcome:
        return Outcome(fields.pop("ready", False), self.waited(), self.last, **fields)

    def on_signal(self, signum: int) -> bool:
        """Stop signals end the wait; the terminal's stop signals stop us (no app yet: the job
        is just us); the rest mean nothing before the app runs."""
        if signum in signals.STOP_WAITING:
            return True
        if signum in signals.JOB_STOP:
            signals.stop_self()
        elif signum not in (signal.SIGCHLD, signal.SIGCONT):
            self.log.debug("signal_ignored", f"ignoring {signals.name(signum)}: the app has not started",
                           signal=signals.name(signum))
        return False

    def probes(self, deadline: waiting.Deadline, no_proxy_grace: float):
        """The task: probe on schedule until ready, the deadline, or no proxy after the grace."""
        grace_over = no_proxy_grace <= 0
        next_progress = self.start + PROGRESS_INTERVAL
        said = None
        while True:
            probe_start = waiting.system.monotonic()
            self.last = yield from self.proxy.probe(deadline.within(PROBE_TIMEOUT))
            if self.last.status == 200:
                return self.outcome(ready=True)
            if self.last.describe() != said:  # a debug line per change, not per probe
                said = self.last.describe()
                self.log.debug("proxy_not_ready", f"proxy not ready: {said}", answer=said)
            if not grace_over and self.waited() >= no_proxy_grace:
                grace_over = True  # decided once: a proxy seen listening is waited for as usual
                if not self.proxy.seen and not (yield from self.proxy.listening(deadline.within(PROBE_TIMEOUT))):
                    return self.outcome(absent=True)
            interval = REFUSED_INTERVAL if self.last.refused else ANSWERED_INTERVAL
            next_probe = waiting.Deadline(probe_start + interval)
            if deadline.at is not None and next_probe.at > deadline.at - MIN_PROBE_TIME:
                next_probe = deadline  # no probe at the deadline: wait for it, then report
            yield from waiting.sleep(next_probe)
            if deadline.expired():
                return self.outcome()
            if waiting.system.monotonic() >= next_progress:
                self.progress(self.waited(), self.last)
                next_progress += PROGRESS_INTERVAL


def wait_for_proxy(proxy: Proxy, timeout: float, log, no_proxy_grace: float = 0.0,
                   progress=lambda waited, last: None) -> Outcome:
    """Probe the ready URL until it answers 200, ``timeout`` passes (0: never) or a stop signal
    comes. Probes start on a schedule (every ANSWERED_INTERVAL after a non-200 answer,
    REFUSED_INTERVAL after a refusal); no probe outlives the deadline.

    ``no_proxy_grace`` (0: off): once that many seconds pass with every probe refused, look at
    the proxy's other ports once; if nothing listens there either, the pod has no proxy.
    ``progress(waited, last)`` is called every PROGRESS_INTERVAL while the wait goes on.
    """
    wait = _Wait(proxy, log, progress)
    deadline = waiting.Deadline.after(timeout if timeout > 0 else None)
    try:
        return waiting.run_one(wait.probes(deadline, no_proxy_grace), wait.on_signal)
    except waiting.Stopped as stop:
        return wait.outcome(signal=stop.signum)
