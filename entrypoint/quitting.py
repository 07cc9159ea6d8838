"""Ask the sidecars to exit so the pod can finish; best effort, bounded, never fatal.

A quit is judged by its effect: a 2xx answer, or the proxy gone. Envoy quit through a routed
listener exits before it answers (the client sees the connection closed), and a proxy that
exits late may be gone by the time a retry arrives. So a POST without a 2xx is followed by a
look at the proxy's ports: if they all refuse connections now, the quit landed. Only where
something listened earlier in this run, though (Proxy.evidence): a port that refuses because
nothing ever listened there proves nothing (no sidecar at all, or a wrong URL).

Every quit URL runs side by side, each on its own evidence, so the pod's end waits for
--quit-timeout once, not once per URL, and a dead extra endpoint delays nothing.
"""
from __future__ import annotations

import _thread
import time
from collections.abc import Callable

from entrypoint import signals
from entrypoint.http_request import Answer, Interrupted
from entrypoint.proxy import Proxy
from entrypoint.values import Url, address

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


def reason_to_keep(quit_on: str, exit_code: int, proxy: Proxy | None) -> str | None:
    """Why the proxy is not to be quit, or None to quit it: every such reason in one place."""
    if proxy is None:
        return "disabled"
    if proxy.absent:
        return "absent"
    if proxy.native:
        return "native"
    if quit_on == "never" or (quit_on == "success" and exit_code != 0):
        return f"--quit-on={quit_on}"
    return None


def _retryable(answer: Answer) -> bool:
    """Refused (not listening yet or restarting) and 5xx may pass; 4xx and hangs will not."""
    return answer.refused or (answer.status is not None and answer.status >= 500)


def quit_one(proxy: Proxy, url: Url, timeout: float, retry: bool, log,
             sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.monotonic,
             then: str = "the exit code is unchanged") -> bool:
    """POST ``url`` until the quit lands or ``timeout`` seconds pass; True if it landed: a 2xx
    answer, or the proxy gone (Proxy.gone). Raises Interrupted on a stop signal.

    A refusal or a 5xx is retried where something listened on ``url``'s port in this run; where
    nothing ever did (no such sidecar, a wrong URL), only with ``retry``: when the proxy was
    not waited for and may still be starting."""
    start = clock()
    deadline = start + timeout
    backoff = FIRST_BACKOFF
    attempts = 0
    answer = None
    last_try = False
    while True:
        # Closed without an answer, reset, timed out: the request may have reached the proxy,
        # so do not send it again; only watch for the proxy to go.
        if answer is None or _retryable(answer):
            attempts += 1
            answer = proxy.post(url, max(deadline - clock(), 0.001))
            if answer.ok:
                log.info("proxy_quit", f"proxy quit: POST {url} answered {answer.status}",
                         url=str(url), status=answer.status, attempts=attempts)
                return True
        if answer.status is not None and answer.status < 500:
            break  # 4xx: the endpoint said no, and it is staying
        ports = proxy.gone(url, max(deadline - clock(), 0.001))
        if ports:
            where = ", ".join(address(host, port) for host, port in ports)
            log.info("proxy_quit", f"proxy quit: the proxy is gone ({where} refuse connections now), "
                     f"though POST {url} got {answer.describe()}",
                     url=str(url), answer=answer.describe(), attempts=attempts, gone=True)
            return True
        remaining = deadline - clock()
        seen = (url.host, url.port) in proxy.seen
        if not (retry or seen) or last_try or remaining <= MIN_ANSWER_TIME:
            break
        last_try = backoff >= remaining - MIN_ANSWER_TIME
        sleep(min(backoff, remaining - MIN_ANSWER_TIME))
        if signals.stop_pending():
            raise Interrupted
        backoff = min(backoff * 2, MAX_BACKOFF)
    advice = hint(url, answer)
    log.warning("quit_failed",
                f"could not quit the proxy: POST {url}: {answer.describe()} "
                f"after {attempts} attempt(s) in {clock() - start:.1f}s"
                + (f"; {advice}" if advice else "") + f"; {then}",
                url=str(url), answer=answer.describe(), attempts=attempts)
    return False


def quit_all(proxy: Proxy, timeout: float, retry: bool, log, **seams) -> bool:
    """Quit every URL of ``proxy`` side by side; True if all landed. A stop signal ends the
    wait for them at once (the quits not yet landed count as failed)."""
    results: list = [None] * len(proxy.quit_urls)  # None: cut short by a stop signal
    done = [_thread.allocate_lock() for _ in proxy.quit_urls]

    def quit_in_thread(index: int, url: Url):
        try:
            results[index] = quit_one(proxy, url, timeout, retry, log, **seams)
        except Interrupted:
            pass
        except Exception as error:  # a bug of ours: logged, and this quit counts as failed
            log.error("internal_error", f"internal error while quitting {url}: "
                      f"{type(error).__name__}: {error}; please report it")
            results[index] = False
        finally:
            done[index].release()

    for index, url in enumerate(proxy.quit_urls):
        done[index].acquire()
        _thread.start_new_thread(quit_in_thread, (index, url))
    for lock in done:
        while not lock.acquire(timeout=0.02) and not signals.stop_pending():
            pass
    signum = signals.stop_pending()
    if None in results and signum is not None:
        log.info("quit_abandoned", f"got {signals.name(signum)}: not waiting for the quit to land",
                 signal=signals.name(signum))
    return all(results)
