"""Ask the sidecars to exit so the pod can finish; best effort, bounded, never fatal.

A quit is judged by its effect: a 2xx answer, or the proxy gone. Envoy quit through a routed
listener exits before it answers (the client sees the connection closed), and a proxy that
exits late may be gone by the time a retry arrives. So a POST without a 2xx is followed by a
look at the proxy's ports: if they all refuse connections now, the quit landed. Only where
something listened earlier in this run, though (Proxy.evidence): a port that refuses because
nothing ever listened there proves nothing (no sidecar at all, or a wrong URL).

Every quit URL runs side by side, each on its own evidence, so the pod's end waits for
--quit-timeout once, not once per URL, and a dead extra endpoint delays nothing. They run as
tasks on this thread (waiting.py): a quit needs no new thread or process, so it still goes out
when the pod's pid limit is full.
"""

from entrypoint import signals, waiting
from entrypoint.http_request import Answer
from entrypoint.proxy import Proxy
from entrypoint.values import Url, address
from entrypoint.record import Record

FIRST_BACKOFF = 0.05
MAX_BACKOFF = 1.0
# The last retry starts this long before the deadline, not as it strikes: it gets time for an
# answer, so a failure names the last real answer rather than "no answer within 0.0s".
MIN_ANSWER_TIME = 0.1

HINTS = {
    403: "the endpoint only accepts callers on loopback: is this container in the pod's network?",
    404: "no such endpoint here: check --quit-url",
    405: "the endpoint rejects POST: check --quit-url",
}
# Linkerd's proxy answers 404 on /shutdown unless the pod enables the endpoint.
LINKERD_404 = ("Linkerd's /shutdown is off unless the pod has the annotation "
               "config.linkerd.io/proxy-admin-shutdown: enabled; with Linkerd's native sidecars no quit is "
               "needed: set SIDECAR_KILLER_NATIVE_SIDECAR=true")


def hint(url: Url, answer: Answer) -> str:
    if answer.status == 404 and url.path.split("?")[0].endswith("/shutdown"):
        return LINKERD_404
    return HINTS.get(answer.status, "")


class Keep(Record):
    """Why the proxy is not quit: the log event and its line ("" when said already)."""
    __slots__ = ()
    fields = ("event", "line")


def reason_to_keep(config, exit_code: int, absent: bool, native: str) -> Keep | None:
    """None to quit the proxy, else why not: every reason not to quit in one place.
    ``absent``: the pod has no proxy; ``native``: why the proxy is a native sidecar, "" when it
    is classic. Lines name the setting as the user made it (config.named)."""
    quit_on = config.quit_on
    if config.disabled:
        return Keep(event="disabled", line="")
    if absent:
        return Keep(event="proxy_absent", line="")
    if native:
        return Keep(event="proxy_native", line=f"not quitting the proxy: it is a native sidecar ({native}); "
                                               "the kubelet stops it once this container has ended")
    if quit_on == "never" or (quit_on == "success" and exit_code != 0):
        return Keep(event="proxy_kept", line=f"leaving the proxy running ({config.setting('quit_on')}, "
                                             f"exit code {exit_code})")
    return None


def _retryable(answer: Answer) -> bool:
    """Refused (not listening yet or restarting) and 5xx may pass; 4xx and hangs will not."""
    return answer.refused or (answer.status is not None and answer.status >= 500)


class _Quits:
    def __init__(self, proxy: Proxy, log, retry_unseen: bool, then: str):
        self.proxy, self.log, self.retry_unseen, self.then = proxy, log, retry_unseen, then

    def guarded(self, url: Url, deadline: waiting.Deadline):
        """``one``, where a bug of ours is logged and fails this quit alone."""
        try:
            return (yield from self.one(url, deadline))
        except Exception as error:
            self.log.error("internal_error", f"internal error while quitting {url}: "
                           f"{type(error).__name__}: {error}; please report it")
            return False

    def one(self, url: Url, deadline: waiting.Deadline):
        """A task: POST ``url`` until the quit lands or the deadline; True if it landed: a 2xx
        answer, or the proxy gone (Proxy.gone).

        A refusal or a 5xx is retried where something listened on ``url``'s port in this run;
        where nothing ever did (no such sidecar, a wrong URL), only with ``retry_unseen``: the
        proxy was not waited for and may still be starting."""
        proxy, log = self.proxy, self.log
        start = waiting.system.monotonic()
        backoff = FIRST_BACKOFF
        attempts = 0
        answer = None
        last_try = False
        while True:
            # Closed without an answer, reset, timed out: the request may have reached the
            # proxy, so do not send it again; only watch for the proxy to go.
            if answer is None or _retryable(answer):
                attempts += 1
                answer = yield from proxy.post(url, deadline)
                if answer.ok:
                    log.info("proxy_quit", f"proxy quit: POST {url} answered {answer.status}",
                             url=str(url), status=answer.status, attempts=attempts)
                    return True
            if answer.status is not None and answer.status < 500:
                break  # 4xx: the endpoint said no, and it is staying
            ports = yield from proxy.gone(url, deadline)
            if ports:
                where = ", ".join(address(host, port) for host, port in ports)
                log.info("proxy_quit", f"proxy quit: the proxy is gone ({where} refuse connections now), "
                         f"though POST {url} got {answer.describe()}",
                         url=str(url), answer=answer.describe(), attempts=attempts, gone=True)
                return True
            remaining = deadline.left()
            seen = (url.host, url.port) in proxy.seen
            if not (self.retry_unseen or seen) or last_try or remaining <= MIN_ANSWER_TIME:
                break
            last_try = backoff >= remaining - MIN_ANSWER_TIME
            yield from waiting.sleep(waiting.Deadline.after(min(backoff, remaining - MIN_ANSWER_TIME)))
            backoff = min(backoff * 2, MAX_BACKOFF)
        if answer.refused and not proxy.seen and not self.retry_unseen:
            # Nothing of the proxy ever answered in this run (no sidecar, or the app never
            # started): nothing to quit, and nothing to warn about.
            log.info("no_proxy_to_quit", f"no proxy to quit: nothing listens at {url}, and no port of the "
                     f"proxy answered in this run", url=str(url))
            return False
        advice = hint(url, answer)
        log.warning("quit_failed",
                    f"could not quit the proxy: POST {url}: {answer.describe()} "
                    f"after {attempts} attempt(s) in {waiting.system.monotonic() - start:.1f}s"
                    + (f"; {advice}" if advice else "") + f"; {self.then}",
                    url=str(url), answer=answer.describe(), attempts=attempts)
        return False


def quit_all(proxy: Proxy, timeout: float, log, *, retry_unseen: bool = False,
             then: str = "the exit code is unchanged") -> bool:
    """Quit every URL of ``proxy`` side by side within ``timeout`` seconds; True if all landed.
    A stop signal ends the wait for them at once (the quits not yet landed count as failed).
    ``then`` ends a failure's line: what the failure means for the exit code."""
    quits = _Quits(proxy, log, retry_unseen, then)
    deadline = waiting.Deadline.after(timeout)
    try:
        return all(waiting.run([quits.guarded(url, deadline) for url in proxy.quit_urls], _stops))
    except waiting.Stopped as stop:
        log.info("quit_abandoned", f"got {signals.name(stop.signum)}: not waiting for the quit to land",
                 signal=signals.name(stop.signum))
        return False


def _stops(signum: int) -> bool:
    """While quitting, a stop signal ends the wait; the rest mean nothing now."""
    return signum in signals.STOP_WAITING
