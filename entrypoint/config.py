"""Options: each declared once (flag, environment variable, default, parser, help).

Precedence, highest first: command-line flag, ``SIDECAR_KILLER_*`` variable, a scuttle or
linkerd-await variable (compat.py), the ``--mesh`` preset, the built-in default.
"""

from entrypoint import compat, exitcodes
from entrypoint.values import (BOOLEAN_WORDS, MAX_URLS, MAX_VALUE_LENGTH, choice, is_loopback, parse_bool,
                               parse_seconds, parse_url, parse_urls, quote)
from entrypoint.record import Record

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

# A pod annotation passed in through the Downward API can be as long as Kubernetes lets all of
# a pod's annotations be together (256 KiB); native_sidecar.py ignores one that is not what the
# mesh writes (over its MAX_STATUS_LENGTH, not JSON) rather than refusing to start the app.
ANNOTATION_LENGTH = 262144


class Option(Record):
    """name: attribute of Config; the flag is --name-with-dashes.
    parse: None for a switch (the flag alone is true, --switch=BOOL and the variable take
    BOOLEAN_WORDS). repeat: the flag may repeat, each value comma-separated as the variable is,
    and the values accumulate. flag_name: when the flag differs from the attribute name.
    max_length: the longest value taken, checked before it is parsed."""
    __slots__ = ()
    fields = ("name", "help", "parse", "default", "metavar", "repeat", "flag_name", "max_length")

    def __new__(cls, name: str, help: str, *, parse=None, default=None, metavar: str = "",
                repeat: bool = False, flag_name: str = "", max_length: int = MAX_VALUE_LENGTH):
        return super().__new__(cls, name, help, parse, default, metavar, repeat, flag_name, max_length)

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
           parse=parse_url, metavar="URL"),
    Option("no_wait", "start the app at once, without waiting for the proxy; still quit it after"),
    Option("ready_timeout", "seconds to wait for readiness; 0 waits forever",
           parse=parse_seconds, default=60.0, metavar="SECONDS"),
    Option("on_ready_timeout", "fail: do not start the app, quit the proxy, exit 69; run: start it anyway",
           parse=choice("fail", "run"), default="fail", metavar="fail|run"),
    Option("no_proxy_grace", "nothing listens at the ready and quit ports this long: no proxy, "
           "run the app without it; 0: off",
           parse=parse_seconds, default=0.0, metavar="SECONDS"),
    Option("quit_urls", "POSTed after the app exits; repeatable or comma-separated",
           parse=parse_urls, metavar="URL", repeat=True, flag_name="quit_url"),
    Option("allow_remote_quit", "allow quit URLs whose host is not loopback (127.0.0.0/8, ::1, localhost)"),
    Option("quit_timeout", "seconds to get a 2xx from the quit URLs (side by side), retrying refused and 5xx",
           parse=parse_seconds, default=10.0, metavar="SECONDS"),
    Option("quit_on", "when to quit the proxy; success keeps it when the app failed",
           parse=choice("always", "success", "never"), default="always", metavar="always|success|never"),
    Option("mesh", "the ready/quit ports of a mesh's proxy on 127.0.0.1: " + _preset_summary(),
           parse=choice(*MESH_PRESETS), default="istio", metavar="|".join(MESH_PRESETS)),
    Option("native_sidecar", "the proxy is a native sidecar (an init container with restartPolicy: Always): "
           "wait for it, never quit it; the kubelet stops it"),
    Option("istio_status", "the pod's sidecar.istio.io/status annotation (Downward API): istio-proxy among "
           "its initContainers means a native sidecar",
           parse=str, default="", metavar="JSON", max_length=ANNOTATION_LENGTH),
    Option("linkerd_native_sidecar", "the pod's Linkerd proxy-enable-native-sidecar annotation (Downward API; "
           "config.linkerd.io/ from 2.20, config.beta.linkerd.io/ in 2.19): Go's true words (true, 1, t) "
           "mean a native sidecar",
           parse=str, default="", metavar="VALUE", max_length=ANNOTATION_LENGTH),
    Option("signal_group", "forward signals to the app's process group, not the app alone"),
    Option("log_format", "lifecycle lines on stderr as text or JSON",
           parse=choice("text", "json"), default="text", metavar="text|json"),
    Option("log_level", "how much to log on stderr",
           parse=choice("quiet", "info", "debug"), default="info", metavar="quiet|info|debug"),
    Option("disabled", "do not wait for or quit the proxy; still run and supervise the app "
           f"(--disabled=BOOL or env: {BOOLEAN_WORDS})"),
    Option("check_ready", "probe the ready URL once: exit 0 if ready, 1 if not"),
    Option("quit_only", "POST the quit URLs and exit: 0 if all landed, 1 if not"),
)
BY_NAME = {option.name: option for option in OPTIONS}
BY_FLAG = {option.flag: option for option in OPTIONS}
ENV_NAMES = frozenset(option.env for option in OPTIONS)


class Config:
    """Every option's value, the command and what to do (run | help | version). The defaults
    live in the option table alone; the slots name the attributes (tests check they agree)."""
    __slots__ = (
        "command",                 # list: the app's argv; [] for --check-ready, --quit-only, help
        "action",                  # str: run | help | version
        "ready_url",               # values.Url
        "no_wait",                 # bool
        "ready_timeout",           # float seconds; 0: no limit
        "on_ready_timeout",        # str: fail | run
        "no_proxy_grace",          # float seconds; 0: off
        "quit_urls",               # tuple of values.Url
        "allow_remote_quit",       # bool
        "quit_timeout",            # float seconds
        "quit_on",                 # str: always | success | never
        "mesh",                    # str: a key of MESH_PRESETS
        "native_sidecar",          # bool
        "istio_status",            # str: the annotation as given, native_sidecar.py reads it
        "linkerd_native_sidecar",  # str: the annotation as given
        "signal_group",            # bool
        "log_format",              # str: text | json
        "log_level",               # str: quiet | info | debug
        "disabled",                # bool
        "check_ready",             # bool
        "quit_only",               # bool
        "origin",                  # dict: option name -> where its value came from (flag or variable)
    )

    def __init__(self, command: list | None = None, action: str = "run"):
        self.command = [] if command is None else command
        self.action = action
        self.origin = {}
        for option in OPTIONS:  # the defaults live in the option table alone
            setattr(self, option.name, option.initial)

    def named(self, name: str) -> str:
        """How the user set option ``name``: its flag, its variable, or a scuttle or linkerd-await
        variable; the flag when it was not set."""
        return self.origin.get(name) or BY_NAME[name].flag

    def setting(self, name: str) -> str:
        """Option ``name``'s value as its flag would set it, and which variable set it if one
        did: "--quit-on=never", "NEVER_KILL_ISTIO means --quit-on=never"."""
        flag = f"{BY_NAME[name].flag}={getattr(self, name)}"
        return flag if self.named(name).startswith("--") else f"{self.named(name)} means {flag}"

    def _values(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__ if name != "origin"}

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{name}={value!r}" for name, value in self._values().items()) + ")"

    def __eq__(self, other) -> bool:
        return type(other) is Config and self._values() == other._values()


def _convert(option: Option, text: str, source: str):
    """The value of ``option`` given as ``text`` by ``source`` (its flag or variable)."""
    if len(text) > option.max_length:
        raise UsageError(f"{source}: {quote(text)} is longer than {option.max_length} characters")
    try:
        return (option.parse or parse_bool)(text)
    except ValueError as reason:
        raise UsageError(f"{source}: {quote(text)} {reason}") from None


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
            guess = nearest(flag, _FLAGS)
            hint = f": did you mean {guess}?" if guess else ""
            raise UsageError(f"unknown option {quote(flag)}{hint} (see --help; put the command after --)")
        if option.parse is None:
            given[option.name] = _convert(option, value, flag) if has_value else True
        else:
            if not has_value:
                i += 1
                if i >= len(argv):
                    raise UsageError(f"{flag} needs a value ({option.metavar})")
                value = argv[i]
            parsed = _convert(option, value, flag)
            if option.repeat:
                parsed = given.get(option.name, ()) + parsed
                if len(parsed) > MAX_URLS:
                    raise UsageError(f"{flag}: more than {MAX_URLS} URLs")
            given[option.name] = parsed
        i += 1
    return given, [], "run"


def _check_command(argv: list, command: list) -> None:
    """Options that ended up as the app's command: after `--` (where the image's ENTRYPOINT
    ends), or a switch followed by a value, which a switch does not take."""
    if not command:
        return
    if command[0] in ("-h", "--help", "-V", "--version") and "/" not in command[0]:
        raise UsageError(f"{quote(command[0])} comes after '--', where the app's command starts, and no program has "
                         f"that name: for sidecar-killer's own, put it before '--' (with an image whose ENTRYPOINT "
                         f"ends in '--': docker run --rm --entrypoint /sidecar-killer IMAGE {command[0]}); "
                         f"for the app's, name the app first (docker run --rm IMAGE /app {command[0]})")
    option = BY_FLAG.get(command[0].partition("=")[0])
    if option is not None:
        raise UsageError(f"{quote(command[0])} comes after '--', where the app's command starts: put options "
                         f"before '--', or set {option.env} (when the image's ENTRYPOINT ends in '--', "
                         "as Dockerfile.scratch's does, every docker run argument is the app's)")
    before = argv[:len(argv) - len(command)]
    if before and before[-1] in BY_FLAG and BY_FLAG[before[-1]].parse is None and "--" in command:
        try:
            parse_bool(command[0])
        except ValueError:
            return
        switch = BY_FLAG[before[-1]]
        raise UsageError(f"{switch.flag} takes no value, so {quote(command[0])} would be run as the app: "
                         f"write {switch.flag} alone, {switch.flag}={command[0]} or {switch.env}={command[0]}")


# -- did you mean ----------------------------------------------------------------------------
MAX_NAME_LENGTH = 64     # a longer name is no typo of ours: no suggestion, shown cut
MAX_TYPOS = 3            # a suggestion is at most this many edits away
MAX_NAMED_VARIABLES = 10  # unknown variables named one by one; the rest counted
_FLAGS = tuple(sorted([*BY_FLAG, "--help", "--version"]))
_ENV_NAMES = tuple(sorted(ENV_NAMES))


def unknown_variables(environ: dict) -> list:
    """Warnings for SIDECAR_KILLER_* variables that name no option, with the nearest that does.
    Bounded whatever the environment holds: MAX_NAMED_VARIABLES named, the rest counted."""
    unknown = sorted((name for name in environ if name.startswith(ENV_PREFIX) and name not in ENV_NAMES),
                     key=lambda name: name[:MAX_NAME_LENGTH + 1])
    warnings = []
    for name in unknown[:MAX_NAMED_VARIABLES]:
        guess = nearest(name, _ENV_NAMES)
        shown = name if len(name) <= MAX_NAME_LENGTH else f"{name[:MAX_NAME_LENGTH]}... ({len(name)} characters)"
        warnings.append(f"{shown} is not a sidecar-killer variable and is ignored"
                        + (f"; did you mean {guess}?" if guess else " (see --help for the variables)"))
    if len(unknown) > MAX_NAMED_VARIABLES:
        warnings.append(f"... and {len(unknown) - MAX_NAMED_VARIABLES} more {ENV_PREFIX}* variables "
                        "that name no option")
    return warnings


def nearest(word: str, candidates) -> str | None:
    """The candidate fewest edits from ``word`` (the first in order on a tie), if it is at most
    MAX_TYPOS away; None for none, or for a word over MAX_NAME_LENGTH characters. Candidates
    whose length is off by more than the best distance so far are not compared at all."""
    if len(word) > MAX_NAME_LENGTH:
        return None
    best, best_distance = None, MAX_TYPOS + 1
    for candidate in candidates:
        if abs(len(candidate) - len(word)) < best_distance:
            distance = _edit_distance(word, candidate, best_distance - 1)
            if distance < best_distance:
                best, best_distance = candidate, distance
    return best


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of a and b when it is at most ``limit``, else limit + 1: the common
    prefix and suffix are skipped, and only the diagonal band |i - j| <= limit is computed."""
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a, end_b = end_a - 1, end_b - 1
    a, b = a[start:end_a], b[start:end_b]
    over = limit + 1
    if abs(len(a) - len(b)) > limit:
        return over
    previous = [j if j <= limit else over for j in range(len(b) + 1)]
    for i, x in enumerate(a, 1):
        low, high = max(1, i - limit), min(len(b), i + limit)
        row = [over] * (len(b) + 1)
        row[0] = i if i <= limit else over
        for j in range(low, high + 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != b[j - 1]), over)
        if min(row[low - 1:high + 1]) > limit:
            return over
        previous = row
    return previous[-1]


def requested_log_format(argv: list, environ: dict) -> str:
    """The log format asked for, for a usage error's own line: the last --log-format among the
    flags (they end at '--' or the command), else the variable, else the default; a value that
    is not one of the formats counts as not given. Any case; never raises."""
    option = BY_NAME["log_format"]
    asked = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--" or not arg.startswith("-") or arg == "-":
            break
        flag, has_value, value = arg.partition("=")
        given = BY_FLAG.get(flag)
        if given is not None and given.parse is not None and not has_value:
            i += 1
            value = argv[i] if i < len(argv) else ""
        if given is option:
            asked = _valid(option, value) or asked
        i += 1
    return asked or _valid(option, environ.get(option.env, "")) or option.default


def _valid(option: Option, text: str):
    """The parsed value, or None when it is not one."""
    try:
        return _convert(option, text, option.flag)
    except UsageError:
        return None


def load(argv: list, environ: dict) -> Config:
    """Build the configuration from the command line and environment, or raise UsageError."""
    given, command, action = _split_argv(list(argv))
    _check_command(list(argv), command)
    config = Config(command=command, action=action)
    if action != "run":
        return config
    for option in OPTIONS:
        if option.name in given:
            value, config.origin[option.name] = given[option.name], option.flag
        elif environ.get(option.env, "") != "" or (option.parse is None and option.env in environ):
            value, config.origin[option.name] = _convert(option, environ[option.env], option.env), option.env
        else:
            continue
        setattr(config, option.name, value)

    preset = MESH_PRESETS[config.mesh]
    try:
        implied = compat.settings(environ, preset["quit_urls"])
    except ValueError as error:
        raise UsageError(str(error)) from None
    for name, (value, source) in implied.items():
        if name not in config.origin:
            setattr(config, name, value)
            config.origin[name] = source
    if config.ready_url is None:
        config.ready_url = parse_url(preset["ready_url"])
    if not config.quit_urls and "quit_urls" not in implied:  # GENERIC_QUIT_ONLY without endpoints: none
        config.quit_urls = parse_urls(preset["quit_urls"])

    # A quit URL on another host asks that host's proxy to exit (a stray variable would make every
    # job do so); a plain Envoy admin or Linkerd's /shutdown does not check who asks.
    may_quit = config.quit_only or (not config.disabled and config.quit_on != "never")
    remote = [url for url in config.quit_urls if not is_loopback(url.host)] if may_quit else []
    if remote and not config.allow_remote_quit:
        allow = BY_NAME["allow_remote_quit"]
        raise UsageError(f"quit URL {quote(str(remote[0]))} is not on loopback (127.0.0.0/8, ::1, localhost): "
                         "it would make another host's proxy exit; if that is intended, add "
                         f"{allow.flag} ({allow.env}=true)")
    grace, ready_timeout = BY_NAME["no_proxy_grace"], BY_NAME["ready_timeout"]
    if config.no_proxy_grace and config.ready_timeout and config.no_proxy_grace >= config.ready_timeout:
        raise UsageError(f"{grace.flag} {config.no_proxy_grace:g} must be shorter than {ready_timeout.flag} "
                         f"{config.ready_timeout:g} to ever apply")
    check_ready, quit_only = BY_NAME["check_ready"].flag, BY_NAME["quit_only"].flag
    if config.check_ready and config.quit_only:
        raise UsageError(f"{check_ready} and {quit_only} cannot be combined")
    one_shot = check_ready if config.check_ready else quit_only if config.quit_only else None
    if one_shot and command:
        raise UsageError(f"{one_shot} takes no command (got {quote(command[0])})")
    if not one_shot and not command:
        raise UsageError(f"no command to run (usage: {USAGE})")
    if not one_shot and not command[0]:
        raise UsageError(f"the command is an empty string (usage: {USAGE})")
    return config


USAGE = "sidecar-killer [OPTIONS] [--] COMMAND [ARG...]"


def help_text(version: str) -> str:
    lines = [
        f"sidecar-killer {version}",
        "",
        "Wait for the mesh proxy, run COMMAND, then quit the proxy and exit with COMMAND's code.",
        "",
        f"usage: {USAGE}",
        f"       sidecar-killer {BY_NAME['check_ready'].flag} | {BY_NAME['quit_only'].flag} [OPTIONS]",
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
        "  a switch also takes a value, as its variable does: --no-wait=false",
        "",
        *_wrapped(["exit codes: the app's own code", "128+N if signal N killed it",
                   *(f"{code} {meaning}" for code, meaning in exitcodes.MEANINGS)]),
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


def _wrapped(items: list, width: int = 80) -> list:
    """``items`` joined by '; ' in lines of at most ``width`` characters (an item is never cut),
    the later lines indented by two, ending in '.' (textwrap would bring re into --help)."""
    lines = [items[0]]
    for item in items[1:]:
        if len(lines[-1]) + 2 + len(item) > width:
            lines[-1] += ";"
            lines.append("  " + item)
        else:
            lines[-1] += "; " + item
    lines[-1] += "."
    return lines
