"""sidecar-killer's command line: read the configuration, then do what it asks (the job's
lifecycle, a probe, a quit, help or the version)."""
import posix as os  # the C module: os.py brings os.path, stat and _collections_abc
import sys

from entrypoint import __version__, compat, config as configuration, exitcodes, signals
from entrypoint.exitcodes import internal_error
from entrypoint.log import Logger
from entrypoint.values import decoded


def environment() -> dict:
    """The environment we started with, decoded as os.environ decodes it."""
    return {decoded(name): decoded(value) for name, value in os.environ.items()}


def main(argv: list | None = None, environ: dict | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = environment() if environ is None else environ
    try:
        config = configuration.load(argv, environ)
    except configuration.UsageError as error:
        hint = "" if "--help" in str(error) else " (see sidecar-killer --help)"
        Logger(configuration.requested_log_format(argv, environ)).error("usage", f"{error}{hint}")
        return exitcodes.USAGE
    if config.action in ("help", "version"):
        return print_out(configuration.help_text(__version__) if config.action == "help" else version())

    log = Logger(config.log_format, config.log_level)
    for warning in compat.warnings(environ):
        log.warning("unsupported", warning)
    for warning in configuration.unknown_variables(environ):
        log.warning("unknown_variable", warning)
    try:
        if config.check_ready or config.quit_only:
            signals.unblock()
        if config.check_ready:
            return check_ready(config, log)
        if config.quit_only:
            return quit_only(config, log)
    except Exception as error:
        return internal_error(log, error)
    from entrypoint import lifecycle  # a probe, --help and --version import none of it
    return lifecycle.run(config, environ, log)


# The one-shot modes import what they use when they run: an exec probe runs often.
def check_ready(config: configuration.Config, log: Logger) -> int:
    from entrypoint import readiness, waiting
    from entrypoint.proxy import Proxy
    probe = Proxy(config.ready_url, config.quit_urls).probe(waiting.Deadline.after(readiness.PROBE_TIMEOUT))
    answer = waiting.run_one(probe)
    if answer.status == 200:
        log.info("proxy_ready", f"proxy ready: GET {config.ready_url} answered 200")
        return 0
    log.info("proxy_not_ready", f"proxy not ready: GET {config.ready_url}: {answer.describe()}",
             answer=answer.describe())
    return exitcodes.NOT_READY


def quit_only(config: configuration.Config, log: Logger) -> int:
    from entrypoint import quitting
    from entrypoint.proxy import Proxy
    landed = quitting.quit_all(Proxy(config.ready_url, config.quit_urls), config.quit_timeout, log,
                               retry_unseen=True, then="--quit-only exits 1")
    return 0 if landed else exitcodes.NOT_READY


def version() -> str:
    from entrypoint.buildinfo import version_line  # version, commit, Python, platform
    return version_line() + "\n"


def print_out(text: str) -> int:
    """--help and --version on stdout; a stdout that cannot take them is EX_IOERR."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (AttributeError, OSError, ValueError):  # AttributeError: started with stdout closed
        return exitcodes.IOERR
    return 0


def run() -> None:
    """Console-script entry point. Skips the interpreter's teardown (docs/performance.md):
    nothing needs it once our output is out, and a log line that could not be written must
    not turn the app's code into Python's 120."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # closed at start, or a broken pipe
            pass
    os._exit(code)
