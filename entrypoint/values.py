"""Parsers for option values: each takes the raw text and raises ValueError with the reason.

URLs are parsed here rather than with urllib.parse: the grammar the proxies need is small
(http://HOST[:PORT][/PATH][?QUERY]), every byte of it ends up in a request line or a log
line, and urllib.parse would bring re and ipaddress into every start.
"""
from __future__ import annotations

import math
import socket
from collections import namedtuple
from collections.abc import Callable

# No duration we take means anything beyond a day; larger numbers are typos (or 1e10, which
# the system calls that wait cannot take). --ready-timeout 0 waits without end.
MAX_SECONDS = 86400.0

# Letters, digits, '-' and '.', and '_' as container names (docker compose services) use it.
_HOST_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
# RFC 3986's unreserved, sub-delims, ':' '@' '/' '?' and '%' for escapes: no space, no control
# character, nothing that could end the request line or start a fragment.
_PATH_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                             "-._~!$&'()*+,;=:@/?%")


class Url(namedtuple("Url", "text host port path")):
    """A plain-HTTP endpoint: the sidecars serve HTTP on loopback, so no TLS is carried."""
    __slots__ = ()

    def __str__(self):
        return self.text


# Compiled on first use: most starts set no Go duration (compiling both: ~0.25 ms a start).
_GO_DURATION = r"[+-]?(?:0|(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+)"
_GO_UNIT = r"([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)"
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_MAX_SECONDS = 2562047 * 3600  # time.Duration is an int64 of nanoseconds


def parse_go_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds: "10s", "1m30s", "500ms", "0"."""
    import re
    if not re.fullmatch(_GO_DURATION, text):
        raise ValueError("is not a Go duration (like 10s, 1m30s, 500ms)")
    sign = -1.0 if text.startswith("-") else 1.0
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in re.findall(_GO_UNIT, text.lstrip("+-")))
    if seconds > _GO_MAX_SECONDS:
        raise ValueError("is too long for a Go duration")
    return sign * seconds


def parse_seconds(text: str) -> float:
    """Seconds as a number (30, 2.5) or a Go duration (90s, 1m30s, 500ms), as scuttle's take."""
    try:
        value = float(text)
    except ValueError:
        try:
            value = parse_go_duration(text.strip())
        except ValueError:
            raise ValueError("is not a number of seconds (like 30, 2.5, 90s or 1m30s)") from None
    if not math.isfinite(value) or value < 0 or value > MAX_SECONDS:
        raise ValueError(f"must be a number of seconds from 0 to {MAX_SECONDS:g}")
    return value


def ip_family(host: str) -> int | None:
    """socket.AF_INET or AF_INET6 for an IP literal, None for anything else."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return family
        except OSError:
            pass
    return None


def _is_host_name(host: str) -> bool:
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    return (len(host) <= 253 and set(host) <= _HOST_NAME_CHARACTERS
            and all(0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-" for label in labels))


def parse_url(text: str) -> Url:
    text = text.strip()
    if not text.isascii():
        raise ValueError("is not ASCII (write a host name in its xn-- form, percent-encode the path)")
    if not text.isprintable():
        raise ValueError("contains control characters")
    if text[:7].lower() != "http://":
        raise ValueError("must be an http:// URL (the proxies' endpoints are plain HTTP)")
    authority, slash, path = text[len("http://"):].partition("/")
    authority, question, query = authority.partition("?")
    path = slash + path if slash else "/"
    path = path + question + query if question else path
    if "#" in path:
        raise ValueError("has a fragment (#...), which is never sent to a server")
    if not set(path) <= _PATH_CHARACTERS:
        raise ValueError("has a path with a space or a character that must be percent-encoded")
    if "@" in authority:
        raise ValueError("has user information (user@...); the proxies' endpoints take none")
    if authority.startswith("["):
        host, bracket, port_text = authority[1:].partition("]")
        if not bracket or ip_family(host) != socket.AF_INET6:
            raise ValueError("has a bad IPv6 address (write it as [::1])")
        if port_text and (not port_text.startswith(":") or port_text == ":"):
            raise ValueError("has a bad port")
        port_text = port_text[1:]
    else:
        host, colon, port_text = authority.partition(":")
        if colon and not port_text:
            raise ValueError("has a bad port")
        if not host:
            raise ValueError("has no host")
        if ip_family(host) is None and not _is_host_name(host):
            raise ValueError("has a host that is neither a host name nor an IP address")
    if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ValueError("has a bad port (1 to 65535)")
    return Url(text, host, int(port_text) if port_text else 80, path)


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: the pod's own network namespace."""
    if host.lower() in ("localhost", "localhost."):
        return True
    family = ip_family(host)
    if family == socket.AF_INET:
        return socket.inet_pton(family, host)[0] == 127
    return family == socket.AF_INET6 and socket.inet_pton(family, host) == socket.inet_pton(family, "::1")


def parse_urls(text: str) -> tuple:
    urls = tuple(parse_url(part) for part in text.split(",") if part.strip())
    if not urls:
        raise ValueError("names no URL")
    return urls


BOOLEAN_WORDS = "true or false (1/0, yes/no and on/off work too)"


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"is not a boolean (use {BOOLEAN_WORDS})")


def choice(*words: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in words:
            raise ValueError("is not one of " + ", ".join(words))
        return text
    return parse
