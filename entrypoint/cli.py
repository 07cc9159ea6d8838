"""sidecar-killer's lifecycle, top to bottom: configure, wait for the proxy, run the app, quit."""
from __future__ import annotations

import os
import sys
import time

from entrypoint import __version__, compat, config as configuration, exitcodes, quitting, readiness, signals
from entrypoint.http_request import refused
from entrypoint.log import Logger
from entrypoint.supervisor import Supervisor, become_subreaper, release_startup_memory, spawn
from entrypoint.values import address


def main(argv: list | None = None, environ: dict | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = dict(os.environ) if environ is None else environ
    try:
        config = configuration.load(argv, environ)
    except configuration.UsageError as error:
        hint = "" if "--help" in str(error) else " (see sidecar-killer --help)"
        Logger().error("usage", f"{error}{hint}")
        return exitcodes.USAGE
    if config.action == "help":
        sys.stdout.write(configuration.help_text(__version__))
        return 0
    if config.action == "version":
        from entrypoint.buildinfo import version_line  # version, commit, Python, platform
        sys.stdout.write(version_line() + "\n")
        return 0

    log = Logger(config.log_format, config.log_level)
    for warning in compat.warnings(environ):
        log.warning("unsupported", warning)
    try:
        if config.check_ready or config.quit_only:
            signals.unblock()
        if config.check_ready:
            return check_ready(config, log)
        if config.quit_only:
            landed = quitting.quit_all(config.quit_urls, config.quit_timeout, True, log, ready=config.ready_url)
            return 0 if landed else exitcodes.NOT_READY
        return run_lifecycle(config, environ, log)
    except Exception as error:  # a bug of ours must still end in a code, not a traceback death
        log.error("internal_error", f"internal error: {type(error).__name__}: {error}; please report it")
        return exitcodes.SOFTWARE


def run_lifecycle(config: configuration.Config, environ: dict, log: Logger) -> int:
    signals.block()      # first: from here on no signal is lost or kills us
    become_subreaper()   # orphans of the app come to us to be reaped
    started = time.monotonic()

    outcome = None  # not waited: nothing known about the proxy
    if config.disabled:
        log.info("disabled", "disabled: not waiting for or quitting the proxy")
    elif config.no_wait:
        log.info("not_waiting", "not waiting for the proxy (--no-wait)")
    else:
        outcome = wait(config, log)
        if outcome.signal is not None:
            code = exitcodes.SIGNAL_BASE + outcome.signal
            log.info("start_abandoned",
                     f"got {signals.name(outcome.signal)} while waiting for the proxy: not starting the app")
            return finish(config, code, outcome, log)
        if not outcome.ready and not outcome.absent and config.on_ready_timeout == "fail":
            log.error("not_started", "not starting the app (--on-ready-timeout=fail); "
                      "raise --ready-timeout or use --on-ready-timeout=run")
            return finish(config, exitcodes.UNAVAILABLE, outcome, log)

    code = run_app(config, environ, log, started)
    return finish(config, code, outcome, log)


def wait(config: configuration.Config, log: Logger) -> readiness.Outcome:
    limit = f"{config.ready_timeout:g}s" if config.ready_timeout else "no time limit"
    log.info("waiting", f"waiting for the proxy at {config.ready_url} ({limit})",
             url=str(config.ready_url))
    quit_ports = list(dict.fromkeys((url.host, url.port) for url in config.quit_urls))

    def anything_listens() -> bool:  # pilot-agent's 15020 listens long before Envoy's 15021
        return not all(refused(host, port, readiness.PROBE_TIMEOUT) for host, port in quit_ports)
    outcome = readiness.wait_for_proxy(config.ready_url, config.ready_timeout, log,
                                       no_proxy_grace=config.no_proxy_grace, anything_listens=anything_listens)
    if outcome.ready:
        log.info("proxy_ready", f"proxy ready after {outcome.waited:.1f}s", waited=round(outcome.waited, 3))
    elif outcome.absent:
        ports = [(config.ready_url.host, config.ready_url.port)] + quit_ports
        where = ", ".join(dict.fromkeys(address(host, port) for host, port in ports))
        log.info("proxy_absent", f"no proxy in this pod: nothing listened at {where} for {outcome.waited:.1f}s "
                 "(--no-proxy-grace); running the app without waiting for or quitting a proxy",
                 waited=round(outcome.waited, 3))
    elif outcome.signal is None and not outcome.answered:
        log.warning("no_proxy", f"nothing listens at {config.ready_url} after {outcome.waited:.1f}s "
                    "(every connection refused): is the sidecar injected into this pod? "
                    "Check the pod's containers, or set SIDECAR_KILLER_DISABLED=true to run without one",
                    waited=round(outcome.waited, 3))
    elif outcome.signal is None:
        log.warning("proxy_not_ready", f"proxy not ready after {outcome.waited:.1f}s "
                    f"(last answer: {outcome.last.describe()})", waited=round(outcome.waited, 3),
                    answer=outcome.last.describe())
    return outcome


def run_app(config: configuration.Config, env: dict, log: Logger, started: float) -> int:
    command = config.command
    try:
        pid = spawn(command, env, config.signal_group)
    except FileNotFoundError:
        where = "" if "/" in command[0] else f" in PATH={env.get('PATH', os.defpath)}"
        log.error("not_found", f"cannot run {command[0]!r}: not found{where}; check the image's CMD")
        return exitcodes.NOT_FOUND
    except OSError as error:
        log.error("not_executable", f"cannot run {command[0]!r}: {error.strerror or error}; "
                  "check that it is an executable for this platform with mode +x")
        return exitcodes.CANNOT_EXECUTE
    log.info("app_started", f"app started: {' '.join(command)} (pid {pid})", pid=pid)
    release_startup_memory()
    status = Supervisor(pid, config.signal_group, log).run()
    code = exitcodes.from_wait_status(status)
    ran = time.monotonic() - started
    if os.WIFSIGNALED(status):
        log.info("app_exited", f"app killed by {signals.name(os.WTERMSIG(status))} after {ran:.1f}s: "
                 f"exit code {code}", exit_code=code, signal=signals.name(os.WTERMSIG(status)))
    else:
        log.info("app_exited", f"app exited with code {code} after {ran:.1f}s", exit_code=code)
    return code


def finish(config: configuration.Config, code: int, outcome: readiness.Outcome | None, log: Logger) -> int:
    """Quit the proxy as --quit-on says, then hand back ``code`` untouched."""
    if config.disabled or (outcome is not None and outcome.absent):
        return code  # no proxy to quit
    if not quitting.should_quit(config.quit_on, code):
        log.info("proxy_kept", f"leaving the proxy running (--quit-on={config.quit_on}, exit code {code})")
        return code
    # Nothing ever answered the probes: one attempt, not the whole --quit-timeout of retries.
    # Something did: a quit that gets no 2xx but leaves its ports refusing has landed.
    seen = outcome is not None and outcome.answered
    quitting.quit_all(config.quit_urls, config.quit_timeout, outcome is None or seen, log,
                      ready=config.ready_url, ready_seen=seen)
    return code


def check_ready(config: configuration.Config, log: Logger) -> int:
    answer = readiness.probe(config.ready_url)
    if answer.status == 200:
        log.info("proxy_ready", f"proxy ready: GET {config.ready_url} answered 200")
        return 0
    log.info("proxy_not_ready", f"proxy not ready: GET {config.ready_url}: {answer.describe()}",
             answer=answer.describe())
    return exitcodes.NOT_READY


def run() -> None:
    """Console-script entry point."""
    code = main()
    # Skip the interpreter's teardown (~7 ms in the frozen binary, docs/performance.md): we
    # hold nothing that needs it once our output is flushed. If a flush fails (closed
    # stdout), sys.exit reports it and sets the code as it always did.
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None when started with the descriptor closed
                stream.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)
