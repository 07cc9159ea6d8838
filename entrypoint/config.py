"""Options: each declared once (flag, environment variable, default, parser, help).

Precedence, highest first: command-line flag, ``SIDECAR_KILLER_*`` variable, a scuttle or
linkerd-await variable (compat.py), the ``--mesh`` preset, the built-in default.
"""
from __future__ import annotations

from collections import namedtuple

from entrypoint import compat
from entrypoint.values import BOOLEAN_WORDS, choice, is_loopback, parse_bool, parse_seconds, parse_url, \
    parse_urls

ENV_PREFIX = "SIDECAR_KILLER_"

# Each mesh's proxy endpoints as its sidecar serves them on the pod's loopback (docs/when-to-use.md).
MESH_PRESETS = {
    "istio": {"ready_url": "http://127.0.0.1:15021/healthz/ready",
              "quit_urls": "http://127.0.0.1:15020/quitquitquit"},
    "linkerd": {"ready_url": "http://127.0.0.1:4191/ready",
                "quit_urls": "http://127.0.0.1:4191/shutdown"},
    "consul": {"ready_url": "http://127.0.0.1:19000/ready",
               "quit_urls": "http://127.0.0.1:20600/graceful_shutdown"},
    "kuma": {"ready_url": "http://127.0.0.1:9902/ready",
             "quit_urls": "http://127.0.0.1:9901/quitquitquit"},
}


def _preset_summary() -> str:
    """istio 15021/15020, linkerd 4191/4191, ...: each preset's ready and quit ports."""
    def port(url: str) -> str:
        return url.split("/", 3)[2].rsplit(":", 1)[1]
    return ", ".join(f"{name} {port(urls['ready_url'])}/{port(urls['quit_urls'])}" for name, urls in MESH_PRESETS.items())


class UsageError(Exception):
    """A bad option, value or variable; the message is the whole one-line explanation."""


# -- the option table ----------------------------------------------------------------
# Plain classes, not dataclasses: dataclasses imports inspect, ~20 ms of every start; the
# binary leaves both out (build/modules.spec, docs/performance.md).
class Option(namedtuple("Option", "name help parse default metavar repeat flag_name",
                        defaults=(None, None, "", False, ""))):
    """name: attribute of Config; the flag is --name-with-dashes.
    parse: None for a switch that takes no value. repeat: the flag may repeat (values
    accumulate); the environment variable is comma-separated. flag_name: when the flag
    differs from the attribute name."""
    __slots__ = ()

    @property
    def flag(self) -> str:
        return "--" + (self.flag_name or self.name).replace("_", "-")

    @property
    def initial(self):
        """The value before any flag or variable: a switch is off, a repeat empty."""
        if self.parse is None:
            return False
        return () if self.repeat else self.default

    @property
    def env(self) -> str:
        return ENV_PREFIX + (self.flag_name or self.name).upper().replace("-", "_")


OPTIONS = (
    Option("ready_url", "readiness endpoint; ready when a GET answers 200",
           parse_url, None, "URL"),
    Option("no_wait", "start the app at once, without waiting for the proxy; still quit it after"),
    Option("ready_timeout", "seconds to wait for readiness; 0 waits forever",
           parse_seconds, 60.0, "SECONDS"),
    Option("on_ready_timeout", "fail: do not start the app, quit the proxy, exit 69; run: start it anyway",
           choice("fail", "run"), "fail", "fail|run"),
    Option("no_proxy_grace", "nothing listens at the ready and quit ports this long: no proxy, "
           "run the app without it; 0: off",
           parse_seconds, 0.0, "SECONDS"),
    Option("quit_urls", "POSTed after the app exits; repeatable (env: comma-separated)",
           parse_url, None, "URL", repeat=True, flag_name="quit_url"),
    Option("allow_remote_quit", "allow quit URLs whose host is not loopback (127.0.0.0/8, ::1, localhost)"),
    Option("quit_timeout", "seconds to get a 2xx from the quit URLs (side by side), retrying refused and 5xx",
           parse_seconds, 10.0, "SECONDS"),
    Option("quit_on", "when to quit the proxy; success keeps it when the app failed",
           choice("always", "success", "never"), "always", "always|success|never"),
    Option("mesh", "the ready/quit ports of a mesh's proxy on 127.0.0.1: " + _preset_summary(),
           choice(*MESH_PRESETS), "istio", "|".join(MESH_PRESETS)),
    Option("native_sidecar", "the proxy is a native sidecar (an init container with restartPolicy: Always): "
           "wait for it, never quit it; the kubelet stops it"),
    Option("istio_status", "the pod's sidecar.istio.io/status annotation (Downward API): istio-proxy among "
           "its initContainers means a native sidecar", str, "", "JSON"),
    Option("linkerd_native_sidecar", "the pod's config.linkerd.io/proxy-enable-native-sidecar annotation "
           "(Downward API): true means a native sidecar", str, "", "VALUE"),
    Option("signal_group", "forward signals to the app's process group, not the app alone"),
    Option("log_format", "lifecycle lines on stderr as text or JSON",
           choice("text", "json"), "text", "text|json"),
    Option("log_level", "how much to log on stderr",
           choice("quiet", "info", "debug"), "info", "quiet|info|debug"),
    Option("disabled", "do not wait for or quit the proxy; still run and supervise the app "
           f"(env: {BOOLEAN_WORDS})"),
    Option("check_ready", "probe the ready URL once: exit 0 if ready, 1 if not"),
    Option("quit_only", "POST the quit URLs and exit: 0 if all landed, 1 if not"),
)
BY_FLAG = {option.flag: option for option in OPTIONS}


class Config:
    """Every option's value, the command and what to do (run | help | version)."""

    def __init__(self, command: list | None = None, action: str = "run"):
        self.command = [] if command is None else command
        self.action = action
        for option in OPTIONS:  # the defaults live in the option table alone
            setattr(self, option.name, option.initial)

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{name}={value!r}" for name, value in vars(self).items()) + ")"

    def __eq__(self, other) -> bool:
        return type(other) is Config and vars(self) == vars(other)


def _convert(option: Option, text: str, source: str):
    parse = option.parse or parse_bool
    try:
        if option.repeat and source.startswith(ENV_PREFIX):
            return parse_urls(text)
        return parse(text)
    except ValueError as reason:
        raise UsageError(f"{source}: {text!r} {reason}") from None


def _split_argv(argv: list) -> tuple[dict, list, str]:
    """Flags before the command -> ({option name: value}, command, action)."""
    given: dict = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return given, argv[i + 1:], "run"
        if arg in ("-h", "--help"):
            return given, [], "help"
        if arg in ("-V", "--version"):
            return given, [], "version"
        if not arg.startswith("-") or arg == "-":
            return given, argv[i:], "run"
        flag, has_value, value = arg.partition("=")
        option = BY_FLAG.get(flag)
        if option is None:
            raise UsageError(f"unknown option {flag!r} (see --help; put the command after --)")
        if option.parse is None:
            if has_value:
                raise UsageError(f"{flag} takes no value (got {arg!r})")
            given[option.name] = True
        else:
            if not has_value:
                i += 1
                if i >= len(argv):
                    raise UsageError(f"{flag} needs a value ({option.metavar})")
                value = argv[i]
            parsed = _convert(option, value, flag)
            given[option.name] = given.get(option.name, ()) + (parsed,) if option.repeat else parsed
        i += 1
    return given, [], "run"


def _check_command(argv: list, command: list) -> None:
    """Options that ended up as the app's command: after `--` (where the image's ENTRYPOINT
    ends), or a switch followed by a value, which a switch does not take."""
    if not command:
        return
    option = BY_FLAG.get(command[0].partition("=")[0])
    if option is not None:
        raise UsageError(f"{command[0]!r} comes after '--', where the app's command starts: put options "
                         f"before '--', or set {option.env} (when the image's ENTRYPOINT ends in '--', "
                         "as Dockerfile.scratch's does, every docker run argument is the app's)")
    before = argv[:len(argv) - len(command)]
    if before and before[-1] in BY_FLAG and BY_FLAG[before[-1]].parse is None and "--" in command:
        try:
            parse_bool(command[0])
        except ValueError:
            return
        raise UsageError(f"{before[-1]} takes no value, so {command[0]!r} would be run as the app: "
                         f"write {before[-1]} alone, or {BY_FLAG[before[-1]].env}={command[0]}")


def unknown_variables(environ: dict) -> list:
    """Warnings for SIDECAR_KILLER_* variables that name no option, with the nearest that does."""
    known = {option.env for option in OPTIONS}
    return [f"{name} is not a sidecar-killer variable and is ignored; did you mean {_nearest(name, known)}?"
            for name in sorted(environ) if name.startswith(ENV_PREFIX) and name not in known]


def _nearest(word: str, candidates: set) -> str:
    def distance(a: str, b: str) -> int:  # Levenshtein: a few dozen short names, once
        row = list(range(len(b) + 1))
        for i, x in enumerate(a, 1):
            row, previous = [i] + [0] * len(b), row
            for j, y in enumerate(b, 1):
                row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y))
        return row[-1]
    return min(sorted(candidates), key=lambda name: distance(word, name))


def load(argv: list, environ: dict) -> Config:
    """Build the configuration from the command line and environment, or raise UsageError."""
    given, command, action = _split_argv(list(argv))
    _check_command(list(argv), command)
    config = Config(command=command, action=action)
    if action != "run":
        return config
    chosen = set()
    for option in OPTIONS:
        if option.name in given:
            value = given[option.name]
        elif environ.get(option.env, "") != "" or (option.parse is None and option.env in environ):
            value = _convert(option, environ[option.env], option.env)
        else:
            continue
        setattr(config, option.name, value)
        chosen.add(option.name)

    preset = MESH_PRESETS[config.mesh]
    try:
        implied = compat.settings(environ, preset["quit_urls"])
    except ValueError as error:
        raise UsageError(str(error)) from None
    for name, value in implied.items():
        if name not in chosen:
            setattr(config, name, value)
    if config.ready_url is None:
        config.ready_url = parse_url(preset["ready_url"])
    if not config.quit_urls and "quit_urls" not in implied:  # GENERIC_QUIT_ONLY without endpoints: none
        config.quit_urls = parse_urls(preset["quit_urls"])

    # A quit URL on another host asks that host's proxy to exit (a stray variable would make every
    # job do so); a plain Envoy admin or Linkerd's /shutdown does not check who asks.
    may_quit = config.quit_only or (not config.disabled and config.quit_on != "never")
    remote = [url for url in config.quit_urls if not is_loopback(url.host)] if may_quit else []
    if remote and not config.allow_remote_quit:
        raise UsageError(f"quit URL {str(remote[0])!r} is not on loopback (127.0.0.0/8, ::1, localhost): "
                         "it would make another host's proxy exit; if that is intended, add "
                         "--allow-remote-quit (SIDECAR_KILLER_ALLOW_REMOTE_QUIT=true)")
    if config.no_proxy_grace and config.ready_timeout and config.no_proxy_grace >= config.ready_timeout:
        raise UsageError(f"--no-proxy-grace {config.no_proxy_grace:g} must be shorter than --ready-timeout "
                         f"{config.ready_timeout:g} to ever apply")
    if config.check_ready and config.quit_only:
        raise UsageError("--check-ready and --quit-only cannot be combined")
    one_shot = "--check-ready" if config.check_ready else "--quit-only" if config.quit_only else None
    if one_shot and command:
        raise UsageError(f"{one_shot} takes no command (got {command[0]!r})")
    if not one_shot and not command:
        raise UsageError("no command to run (usage: sidecar-killer [OPTIONS] [--] COMMAND [ARG...])")
    if not one_shot and not command[0]:
        raise UsageError("the command is an empty string (usage: sidecar-killer [OPTIONS] [--] COMMAND [ARG...])")
    return config


def help_text(version: str) -> str:
    lines = [
        f"sidecar-killer {version}",
        "",
        "Wait for the mesh proxy, run COMMAND, then quit the proxy and exit with COMMAND's code.",
        "",
        "usage: sidecar-killer [OPTIONS] [--] COMMAND [ARG...]",
        "       sidecar-killer --check-ready | --quit-only [OPTIONS]",
        "",
        "options (each also read from its environment variable; the flag wins):",
    ]
    for option in OPTIONS:
        usage = f"{option.flag} {option.metavar}".rstrip()
        default = "" if option.default in (None, False, "") else f" [default: {option.default:g}]" \
            if isinstance(option.default, float) else f" [default: {option.default}]"
        lines.append(f"  {usage:<36} {option.help}{default}")
        lines.append(f"  {'':<36} env: {option.env}")
    lines += [
        "  -h, --help                           show this help and exit",
        "  -V, --version                        show the version and exit",
        "",
        "exit codes: the app's own code; 128+N if signal N killed it; 64 usage error;",
        "  69 proxy not ready in time; 70 internal error; 126 command not executable;",
        "  127 command not found; 1 --check-ready/--quit-only failed.",
        "",
        "examples:",
        "  ENTRYPOINT [\"/sidecar-killer\", \"--\"]  CMD [\"/app\", \"--flag\"]",
        "  sidecar-killer --ready-timeout 120 -- /app --flag",
        "  sidecar-killer --mesh linkerd -- /app",
        "  sidecar-killer --quit-on success -- /app     # restartPolicy: OnFailure",
        "  sidecar-killer --no-proxy-grace 30 -- /app   # one image, meshed or not",
        "  sidecar-killer --check-ready                 # exec probe or HEALTHCHECK",
    ]
    return "\n".join(lines) + "\n"
