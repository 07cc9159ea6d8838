"""Parsers for option values: each takes the raw text and raises ValueError with the reason."""
from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Callable
from urllib.parse import urlsplit  # http.client imports it anyway


class Url(namedtuple("Url", "text host port path")):
    """A plain-HTTP endpoint: the sidecars serve HTTP on loopback, so no TLS is carried."""
    __slots__ = ()

    def __str__(self):
        return self.text


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError("must be a number of seconds >= 0")
    return value


def parse_url(text: str) -> Url:
    # Before urlsplit: a non-ASCII host makes it import unicodedata (1.1 MB, not in the frozen
    # binary), and http.client cannot send a non-ASCII path anyway.
    if not text.isascii():
        raise ValueError("is not ASCII (write a host name in its xn-- form, percent-encode the path)")
    parts = urlsplit(text.strip())
    if parts.scheme != "http":
        raise ValueError("must be an http:// URL (the proxies' endpoints are plain HTTP)")
    try:
        port = parts.port or 80
    except ValueError:
        raise ValueError("has a bad port") from None
    if not parts.hostname:
        raise ValueError("has no host")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Url(text.strip(), parts.hostname, port, path)


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: the pod's own network namespace."""
    if host in ("localhost", "127.0.0.1", "::1"):
        return True  # the presets: decided without ipaddress
    import ipaddress  # urllib.parse loads it today; lazily, so this module does not depend on that
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_urls(text: str) -> tuple:
    urls = tuple(parse_url(part) for part in text.split(",") if part.strip())
    if not urls:
        raise ValueError("names no URL")
    return urls


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("", "0", "false", "no", "off"):
        return False
    raise ValueError("is not a boolean (use true or false)")


def choice(*words: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in words:
            raise ValueError("is not one of " + ", ".join(words))
        return text
    return parse
