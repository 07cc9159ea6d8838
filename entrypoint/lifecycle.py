"""The job's lifecycle, top to bottom: wait for the proxy, run the app, quit the proxy."""
import posix as os  # the C module: os.py brings os.path, stat and _collections_abc
import time

from entrypoint import (command as app_command, config as configuration, exitcodes, http_request, native_sidecar,
                        quitting, readiness, signals)
from entrypoint.exitcodes import internal_error
from entrypoint.log import Logger
from entrypoint.proxy import Proxy
from entrypoint.supervisor import Supervisor, become_subreaper, wait_for
from entrypoint.terminal import Terminal


def run(config: configuration.Config, environ: dict, log: Logger) -> int:
    """Wait, run, quit. A bug of ours in one step is logged and the next still runs: the app
    is waited for, the proxy quit and the app's code returned whatever happened before."""
    signals.block()      # first: from here on no signal is lost or kills us
    http_request.reserve_descriptor()  # for the quit, whatever the app does to our descriptors
    if not become_subreaper() and os.getpid() != 1:
        log.warning("no_subreaper", "cannot adopt the app's orphans (prctl PR_SET_CHILD_SUBREAPER "
                    "failed): those that outlive their parent are left to PID 1 to reap")
    proxy = None if config.disabled else Proxy(config.ready_url, config.quit_urls)
    native = "" if proxy is None else sidecar_kind(config, log)
    absent = False
    try:
        code = check_command(config.command, log)  # a wrong CMD is said at once, not after the wait
        if code is None and proxy is not None:
            code, absent = wait(config, proxy, log)
        elif code is None:
            log.info("disabled", "disabled: not waiting for or quitting the proxy")
    except Exception as error:
        code = internal_error(log, error)
    if code is None:
        try:
            code = run_app(config, environ, log)
        except Exception as error:  # before the app started (after it, run_app contains its own)
            code = internal_error(log, error)
    try:
        finish(config, proxy, quitting.reason_to_keep(config, code, absent, native), log)
    except Exception as error:
        internal_error(log, error)
    return code


def sidecar_kind(config: configuration.Config, log: Logger) -> str:
    """Why the proxy is a native sidecar (the kubelet stops it), or "" for a classic one."""
    native, why = native_sidecar.decide(config.native_sidecar, config.istio_status, config.linkerd_native_sidecar)
    log.debug("sidecar_kind", f"the proxy is {'a native' if native else 'a classic'} sidecar ({why})",
              native=native)
    return why if native else ""


def local_run(config: configuration.Config) -> str:
    """What to do when there is no sidecar, said wherever that is the likely cause."""
    disabled, grace = configuration.BY_NAME["disabled"].env, configuration.BY_NAME["no_proxy_grace"]
    if config.no_proxy_grace:
        return (f"To run without one: {disabled}=true; with {config.named('no_proxy_grace')} "
                f"{config.no_proxy_grace:g}, the app runs without a proxy once nothing has listened "
                "on the proxy's ports for that long")
    return f"To run without one: {disabled}=true; for one image with and without a mesh: {grace.env}=30"


def wait(config: configuration.Config, proxy: Proxy, log: Logger) -> tuple:
    """Wait for the proxy as configured: (None to start the app, or the exit code without it;
    whether the pod turned out to have no proxy)."""
    if config.no_wait:
        log.info("not_waiting", "not waiting for the proxy (--no-wait)")
        return None, False
    limit = f"{config.ready_timeout:g}s" if config.ready_timeout else "no time limit"
    log.info("waiting", f"waiting for the proxy at {config.ready_url} ({limit})", url=str(config.ready_url))
    def progress(waited: float, last) -> None:
        left = f"{config.ready_timeout - waited:.0f}s left" if config.ready_timeout else "no time limit"
        if not proxy.seen:
            hint = f"; no sidecar in this pod? {local_run(config)}" if waited < 2 * readiness.PROGRESS_INTERVAL else ""
            log.info("still_waiting", f"still waiting for the proxy at {config.ready_url}: nothing listens there "
                     f"yet ({left}){hint}", waited=round(waited, 3))
        else:
            log.info("still_waiting", f"still waiting for the proxy at {config.ready_url}: last answer "
                     f"{last.describe() if last else 'none'} ({left})", waited=round(waited, 3))
    outcome = readiness.wait_for_proxy(proxy, config.ready_timeout, log, config.no_proxy_grace, progress)
    waited = round(outcome.waited, 3)
    if outcome.ready:
        log.info("proxy_ready", f"proxy ready after {outcome.waited:.1f}s", waited=waited)
        return None, False
    if outcome.signal is not None:
        log.info("start_abandoned",
                 f"got {signals.name(outcome.signal)} while waiting for the proxy: not starting the app")
        return exitcodes.SIGNAL_BASE + outcome.signal, False
    if outcome.absent:
        log.info("proxy_absent", f"no proxy in this pod: nothing listened at {proxy.where()} for "
                 f"{outcome.waited:.1f}s ({config.named('no_proxy_grace')}); running the app without waiting for or "
                 "quitting a proxy", waited=waited)
        return None, True
    if not proxy.seen:
        log.warning("no_proxy", f"nothing listens at {config.ready_url} after {outcome.waited:.1f}s "
                    f"(every connection refused): is the sidecar injected into this pod? {local_run(config)}",
                    waited=waited)
    else:
        last = outcome.last.describe() if outcome.last is not None else "none"
        log.warning("proxy_not_ready", f"proxy not ready after {outcome.waited:.1f}s (last answer: {last})",
                    waited=waited, answer=last)
    if config.on_ready_timeout == "run":
        return None, False
    advice = ("no proxy ever listened" if not proxy.seen
              else f"raise {config.named('ready_timeout')}, or use --on-ready-timeout=run if the app can start "
                   "without the mesh")
    log.error("not_started", f"not starting the app ({config.setting('on_ready_timeout')}): {advice}")
    return exitcodes.UNAVAILABLE, False


def check_command(command: list, log: Logger) -> int | None:
    """126 or 127 with the reason when the command cannot run at all; None when it may."""
    try:
        app_command.check(command)
    except app_command.CannotRun as problem:
        log.error(problem.event, str(problem))
        return problem.code
    return None


def run_app(config: configuration.Config, env: dict, log: Logger) -> int:
    command = config.command
    terminal = Terminal.ours()
    try:
        pid = app_command.spawn(command, env)
    except app_command.CannotRun as problem:
        log.error(problem.event, str(problem))
        return problem.code
    started = time.monotonic()
    terminal.pass_on(pid, os.getpgrp())  # at once: the app may read its terminal from its first instruction
    try:
        log.info("app_started", f"app started: {' '.join(command)} (pid {pid})", pid=pid)
        status = Supervisor(pid, config.signal_group, log, terminal).run()
    except Exception as error:
        internal_error(log, error)
        status = wait_for(pid)  # still the app's code, if no longer its signals
    code = exitcodes.from_wait_status(status)
    ran = time.monotonic() - started
    if os.WIFSIGNALED(status):
        log.info("app_exited", f"app killed by {signals.name(os.WTERMSIG(status))} after {ran:.1f}s: "
                 f"exit code {code}", exit_code=code, signal=signals.name(os.WTERMSIG(status)))
    else:
        log.info("app_exited", f"app exited with code {code} after {ran:.1f}s", exit_code=code)
    return code


def finish(config: configuration.Config, proxy: Proxy | None, keep: quitting.Keep | None, log: Logger) -> None:
    """Quit the proxy unless ``keep`` says why not (quitting.reason_to_keep); the exit code is
    never touched."""
    if keep is None:
        # Not waited for (--no-wait): the proxy may still be starting, so a refusal is retried
        # anywhere; else only where something listened in this run.
        quitting.quit_all(proxy, config.quit_timeout, log, retry_unseen=config.no_wait)
    elif keep.line:
        log.info(keep.event, keep.line)
