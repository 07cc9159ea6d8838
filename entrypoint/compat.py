"""scuttle's and linkerd-await's environment variables, read with their meaning (docs/migration.md).

They rank below our own flags and SIDECAR_KILLER_* variables, above the --mesh preset.
"""
from entrypoint.values import (MAX_SECONDS, MAX_VALUE_LENGTH, is_loopback, parse_go_duration, parse_url, parse_urls,
                               quote)


class CompatError(ValueError):
    """Names the variable and the value; becomes a usage error (exit 64)."""


def _duration(text: str) -> float:
    """A Go duration within the bound every one of our durations keeps (at most 64 characters;
    not zero but under a nanosecond is refused: values.parse_go_duration)."""
    seconds = parse_go_duration(text)
    if seconds > MAX_SECONDS:
        raise ValueError(f"is longer than {MAX_SECONDS:g}s")
    return seconds


def _scuttle_bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError("is not a boolean (scuttle takes exactly true or false)")
    return text == "true"


def _base(text: str):
    return text[:-1] if text.endswith("/") else text


def settings(environ: dict, preset_quit_url: str) -> dict:
    """Our option values implied by scuttle/linkerd-await variables: {option name: (value, the
    variable that implied it)}."""
    def get(name, parse):
        text = environ.get(name, "")
        if text == "":
            return None
        if len(text) > MAX_VALUE_LENGTH:  # checked before anything is parsed, as our own options are
            raise CompatError(f"{name}: {quote(text)} is longer than {MAX_VALUE_LENGTH} characters")
        try:
            return parse(text)
        except ValueError as reason:
            raise CompatError(f"{name}: {quote(text)} {reason}") from None

    found: dict = {}
    admin = get("ENVOY_ADMIN_API", lambda t: parse_url(_base(t) + "/ready"))
    generic = list(get("GENERIC_QUIT_ENDPOINTS", parse_urls) or ())
    generic_only = get("GENERIC_QUIT_ONLY", _scuttle_bool)
    quit_without = get("QUIT_WITHOUT_ENVOY_TIMEOUT", _duration)
    wait_for = get("WAIT_FOR_ENVOY_TIMEOUT", _duration)

    if admin is not None:
        found["ready_url"] = admin, "ENVOY_ADMIN_API"
    if get("START_WITHOUT_ENVOY", _scuttle_bool):
        found["no_wait"] = True, "START_WITHOUT_ENVOY"
    elif generic_only and admin is None:
        found["no_wait"] = True, "GENERIC_QUIT_ONLY"
    elif quit_without is not None and quit_without > 0:
        found["ready_timeout"] = quit_without, "QUIT_WITHOUT_ENVOY_TIMEOUT"
        found["on_ready_timeout"] = "fail", "QUIT_WITHOUT_ENVOY_TIMEOUT"
    elif wait_for is not None:
        found["ready_timeout"] = max(wait_for, 0.0), "WAIT_FOR_ENVOY_TIMEOUT"
        found["on_ready_timeout"] = "run", "WAIT_FOR_ENVOY_TIMEOUT"

    istio = get("ISTIO_QUIT_API", lambda t: parse_url(_base(t) + "/quitquitquit"))
    if generic_only:
        found["quit_urls"] = tuple(generic), "GENERIC_QUIT_ONLY"
        found["quit_on"] = ("always" if generic else "never"), "GENERIC_QUIT_ONLY"
    else:
        if generic or istio is not None:
            found["quit_urls"] = (tuple(generic) + ((istio or parse_url(preset_quit_url)),),
                                  "ISTIO_QUIT_API" if istio is not None else "GENERIC_QUIT_ENDPOINTS")
        if get("NEVER_KILL_ISTIO", _scuttle_bool):
            found["quit_on"] = "never", "NEVER_KILL_ISTIO"
        elif admin is not None and not is_loopback(admin.host):  # scuttle quits only a local Envoy
            found["quit_on"] = "never", "ENVOY_ADMIN_API off loopback"
        elif get("NEVER_KILL_ISTIO_ON_FAILURE", _scuttle_bool):
            found["quit_on"] = "success", "NEVER_KILL_ISTIO_ON_FAILURE"

    quit_timeout = get("QUIT_REQUEST_TIMEOUT", _duration)
    if quit_timeout is not None:
        if quit_timeout < 0:
            raise CompatError(f"QUIT_REQUEST_TIMEOUT: {quote(environ['QUIT_REQUEST_TIMEOUT'])} must not be negative")
        found["quit_timeout"] = quit_timeout, "QUIT_REQUEST_TIMEOUT"
    logging = get("SCUTTLE_LOGGING", _scuttle_bool)
    if logging is not None:
        found["log_level"] = ("info" if logging else "quiet"), "SCUTTLE_LOGGING"
    # linkerd-await: any non-empty value disables it, even "false".
    for name in ("LINKERD_AWAIT_DISABLED", "LINKERD_DISABLED"):
        if environ.get(name):
            found["disabled"] = True, name
    return found


def warnings(environ: dict) -> list:
    """What we read but do not do, said once at start."""
    if environ.get("ISTIO_FALLBACK_PKILL") == "true":
        return ["ISTIO_FALLBACK_PKILL=true is not supported (there is no pkill in a scratch image): "
                "a failed quit is logged and the exit code kept"]
    return []
