"""Ask the sidecars to exit so the pod can finish; best effort, bounded, never fatal.

A quit is judged by its effect: a 2xx answer, or the proxy gone. Envoy quit through a routed
listener exits before it answers (the client sees the connection closed), and a proxy that
exits late may be gone by the time a retry arrives. So a POST without a 2xx is followed by a
look at the proxy's ports: if they all refuse connections now, the quit landed. Only for a
proxy seen in this run, though: a port that refuses because nothing ever listened there proves
nothing (no sidecar at all, or a wrong URL), and that stays a failure.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from entrypoint.values import Url, address
from entrypoint.http_request import Answer, refused, request

FIRST_BACKOFF = 0.05
MAX_BACKOFF = 1.0
# The last retry starts this long before the deadline, not as it strikes: it gets time for an
# answer, so a failure names the last real answer rather than "no answer within 0.0s".
MIN_ANSWER_TIME = 0.1

HINTS = {
    403: "the endpoint only accepts callers on loopback: is this container in the pod's network?",
    404: "no such endpoint here: check --quit-url (Linkerd's /shutdown must be enabled on the proxy)",
    405: "the endpoint rejects POST: check --quit-url",
}


def should_quit(quit_on: str, exit_code: int) -> bool:
    return quit_on == "always" or (quit_on == "success" and exit_code == 0)


def _retryable(answer: Answer) -> bool:
    """Refused (not listening yet or restarting) and 5xx may pass; 4xx and hangs will not."""
    return answer.refused or (answer.status is not None and answer.status >= 500)


def quit_one(url: Url, timeout: float, retry: bool, log, seen: bool = False, also: tuple = (),
             post: Callable[[Url, float], Answer] = lambda url, t: request("POST", url, t),
             refuses: Callable[[str, int, float], bool] = refused,
             sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.monotonic) -> bool:
    """POST ``url`` until the quit lands or ``timeout`` seconds pass; True if it landed.

    It lands on a 2xx answer, or when the proxy is gone: ``url``'s port and the ``also``
    (host, port) pairs all refuse connections, after the proxy was seen (``seen``: it answered
    at one of those ports before; or a POST here reached it).
    """
    start = clock()
    deadline = start + timeout
    ports = ((url.host, url.port),) + tuple(also)
    backoff = FIRST_BACKOFF
    attempts = 0
    answer = None
    last_try = False
    while True:
        # Closed without an answer, reset, timed out: the request may have reached the proxy,
        # so do not send it again; only watch for the proxy to go.
        if answer is None or _retryable(answer):
            attempts += 1
            answer = post(url, max(deadline - clock(), 0.001))
            if answer.ok:
                log.info("proxy_quit", f"proxy quit: POST {url} answered {answer.status}",
                         url=str(url), status=answer.status, attempts=attempts)
                return True
            seen = seen or not answer.refused
        if answer.status is not None and answer.status < 500:
            break  # 4xx: the endpoint said no, and it is staying
        if seen and all(refuses(host, port, deadline - clock()) for host, port in ports):
            where = ", ".join(address(host, port) for host, port in ports)
            log.info("proxy_quit", f"proxy quit: the proxy is gone ({where} refuse connections now), "
                     f"though POST {url} got {answer.describe()}",
                     url=str(url), answer=answer.describe(), attempts=attempts, gone=True)
            return True
        remaining = deadline - clock()
        if not retry or last_try or remaining <= MIN_ANSWER_TIME:
            break
        last_try = backoff >= remaining - MIN_ANSWER_TIME
        sleep(min(backoff, remaining - MIN_ANSWER_TIME))
        backoff = min(backoff * 2, MAX_BACKOFF)
    hint = HINTS.get(answer.status, "")
    log.warning("quit_failed",
                f"could not quit the proxy: POST {url}: {answer.describe()} "
                f"after {attempts} attempt(s) in {clock() - start:.1f}s"
                + (f"; {hint}" if hint else "") + "; the exit code is unchanged",
                url=str(url), answer=answer.describe(), attempts=attempts)
    return False


def quit_all(urls, timeout: float, retry: bool, log, ready: Url | None = None, ready_seen: bool = False,
             **seams) -> bool:
    """Quit every sidecar in turn (each gets its own ``timeout``); True if all landed.

    ``ready``: the readiness URL; its port counts as the proxy's too for a quit URL on the same
    host. ``ready_seen``: something answered there in this run.
    """
    results = []
    for url in urls:
        same_host = ready is not None and ready.host == url.host
        also = ((ready.host, ready.port),) if same_host and ready.port != url.port else ()
        results.append(quit_one(url, timeout, retry, log, ready_seen and same_host, also, **seams))
    return all(results)
