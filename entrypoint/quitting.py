"""Ask the sidecars to exit so the pod can finish; best effort, bounded, never fatal."""
from __future__ import annotations

import time
from collections.abc import Callable

from entrypoint.values import Url
from entrypoint.http_request import Answer, request

FIRST_BACKOFF = 0.05
MAX_BACKOFF = 1.0

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


def quit_one(url: Url, timeout: float, retry: bool, log,
             post: Callable[[Url, float], Answer] = lambda url, t: request("POST", url, t),
             sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.monotonic) -> bool:
    """POST ``url`` until a 2xx answer or ``timeout`` seconds pass; True if it landed."""
    start = clock()
    deadline = start + timeout
    backoff = FIRST_BACKOFF
    attempts = 0
    while True:
        attempts += 1
        answer = post(url, max(deadline - clock(), 0.001))
        if answer.ok:
            log.info("proxy_quit", f"proxy quit: POST {url} answered {answer.status}",
                     url=str(url), status=answer.status, attempts=attempts)
            return True
        remaining = deadline - clock()
        if not (retry and _retryable(answer)) or remaining <= 0:
            break
        sleep(min(backoff, remaining))
        backoff = min(backoff * 2, MAX_BACKOFF)
    hint = HINTS.get(answer.status, "")
    log.warning("quit_failed",
                f"could not quit the proxy: POST {url}: {answer.describe()} "
                f"after {attempts} attempt(s) in {clock() - start:.1f}s"
                + (f"; {hint}" if hint else "") + "; the exit code is unchanged",
                url=str(url), answer=answer.describe(), attempts=attempts)
    return False


def quit_all(urls, timeout: float, retry: bool, log, **seams) -> bool:
    """Quit every sidecar in turn (each gets its own ``timeout``); True if all landed."""
    results = [quit_one(url, timeout, retry, log, **seams) for url in urls]
    return all(results)
