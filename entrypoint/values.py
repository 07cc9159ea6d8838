"""Parsers for option values: each takes the raw text and raises ValueError with the reason;
and the text of bytes from the environment or a file name.

URLs are parsed here rather than with urllib.parse: the grammar the proxies need is small
(http://HOST[:PORT][/PATH][?QUERY]), every byte of it ends up in a request line or a log
line, and urllib.parse would bring re and ipaddress into every start.
"""
import _socket as socket  # the C module: socket.py brings enum and selectors
import sys

from entrypoint.record import Record

# No duration we take means anything beyond a day; larger numbers are typos (or 1e10, which
# the system calls that wait cannot take). --ready-timeout 0 waits without end.
MAX_SECONDS = 86400.0

# Letters, digits, '-' and '.', and '_' as container names (docker compose services) use it.
_HOST_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
# RFC 3986's unreserved, sub-delims, ':' '@' '/' '?' and '%' for escapes: no space, no control
# character, nothing that could end the request line or start a fragment.
_PATH_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                             "-._~!$&'()*+,;=:@/?%")


class Url(Record):
    """A plain-HTTP endpoint: the sidecars serve HTTP on loopback, so no TLS is carried."""
    __slots__ = ()
    fields = ("text", "host", "port", "path")

    def __str__(self):
        return self.text


# Every value is bounded before it is parsed, so that no text costs more than a few of its
# characters: a duration is a few characters, a URL a line, any other value at most
# MAX_VALUE_LENGTH (as long as the Istio status annotation native_sidecar.py reads,
# MAX_STATUS_LENGTH; config.py lets a pod annotation be as long as Kubernetes allows).
MAX_DURATION_LENGTH = 64
MAX_URL_LENGTH = 2048
MAX_VALUE_LENGTH = 65536
MAX_URLS = 32           # quit URLs: one proxy, a log shipper, a second mesh; never thousands
QUOTE_LENGTH = 80       # how much of a bad value an error message shows

_UNIT_NANOSECONDS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 1000000, "s": 1000000000,
                     "m": 60000000000, "h": 3600000000000}
_INT64_MAX = (1 << 63) - 1
_NONZERO_DIGITS = "123456789"
TOO_LONG_FOR_A_DURATION = f"is too long for a duration (at most {MAX_DURATION_LENGTH} characters)"
TOO_SMALL = "is too small: not zero, but less than a nanosecond (write 0 for zero)"


def quote(text: str) -> str:
    """repr(text) for an error message, its first QUOTE_LENGTH characters when it is longer:
    a megabyte of variable is not echoed into the log."""
    if len(text) <= QUOTE_LENGTH:
        return repr(text)
    quoted = repr(text[:QUOTE_LENGTH])
    return f"{quoted[:-1]}...{quoted[-1]} ({len(text)} characters)"


def _go_nanoseconds(text: str):
    """(nanoseconds, any non-zero digit) for a text in Go's time.ParseDuration grammar, None
    for any other text. One pass, no backtracking. The arithmetic is Go's: a fraction keeps
    the precision of an int64 and is truncated to whole nanoseconds ("0.1ns" is 0); the range
    is left to the caller (Python's int does not overflow)."""
    end = len(text)
    i = 1 if text[:1] in ("+", "-") else 0
    if text[i:] == "0":  # Go's special case: a lone 0 needs no unit
        return 0, False
    if i == end:
        return None
    total, nonzero = 0, False
    while i < end:
        start = i  # digits [. digits] or . digits
        while i < end and "0" <= text[i] <= "9":
            i += 1
        whole = text[start:i]
        fraction = ""
        if i < end and text[i] == ".":
            i += 1
            start = i
            while i < end and "0" <= text[i] <= "9":
                i += 1
            fraction = text[start:i]
        if not whole and not fraction:
            return None  # ".s", "s", "1h.m": no digits
        start = i  # the unit: everything up to the next digit or '.', as Go reads it
        while i < end and not ("0" <= text[i] <= "9" or text[i] == "."):
            i += 1
        unit = _UNIT_NANOSECONDS.get(text[start:i])
        if unit is None:
            return None  # no unit, or not one of Go's
        nonzero = nonzero or any(digit in whole or digit in fraction for digit in _NONZERO_DIGITS)
        value = int(whole or "0") * unit
        numerator, scale = 0, 1.0  # Go's leadingFraction: digits while they fit an int64
        for digit in fraction:
            if numerator > _INT64_MAX // 10 or numerator * 10 + int(digit) > 1 << 63:
                break
            numerator, scale = numerator * 10 + int(digit), scale * 10
        if numerator:
            value += int(float(numerator) * (float(unit) / scale))
        total += value
    return (-total if text[:1] == "-" else total), nonzero


def parse_go_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds: "10s", "1m30s", "500ms", "-2.5h", "0".

    Exactly Go's grammar: an optional sign, then one or more of a number (digits, digits.digits,
    digits. or .digits) and a unit (ns, us, µs, μs, ms, s, m, h); "0" alone needs no unit.
    Beyond Go's range (an int64 of nanoseconds, about 2562047h) is an error, as in Go. Unlike
    Go, a duration that is not zero but truncates to zero nanoseconds ("0.1ns") is refused:
    0 means "no limit" to some of our options, and nobody means that by 0.1ns."""
    if len(text) > MAX_DURATION_LENGTH:
        raise ValueError(TOO_LONG_FOR_A_DURATION)
    scanned = _go_nanoseconds(text)
    if scanned is None:
        raise ValueError("is not a Go duration (like 10s, 1m30s, 500ms)")
    nanoseconds, nonzero = scanned
    if not -_INT64_MAX - 1 <= nanoseconds <= _INT64_MAX:
        raise ValueError("is beyond a Go duration's range (about 2562047h)")
    if nonzero and nanoseconds == 0:
        raise ValueError(TOO_SMALL)
    return nanoseconds / 1e9


def parse_seconds(text: str) -> float:
    """Seconds as a number (30, 2.5) or a Go duration (90s, 1m30s, 500ms), as scuttle's take.

    Zero is any spelling of it: 0, 0.0, 0e9, 0s, and -0 too (a zero has no sign): 0.0 is
    returned. A value that is not zero but under a nanosecond is refused as too small, never
    rounded to 0 (1e-400 is 0.0 as a float; 0 means no limit for --ready-timeout). At most
    MAX_DURATION_LENGTH characters, checked before anything is parsed."""
    if len(text) > MAX_DURATION_LENGTH:
        raise ValueError(TOO_LONG_FOR_A_DURATION)
    try:
        value = float(text)
        mantissa = text.lower().partition("e")[0]
        nonzero = any(digit in mantissa for digit in _NONZERO_DIGITS)
    except ValueError:
        scanned = _go_nanoseconds(text.strip())
        if scanned is None:
            raise ValueError("is not a number of seconds (like 30, 2.5, 90s or 1m30s)") from None
        nanoseconds, nonzero = scanned
        value = nanoseconds / 1e9
    if value != value or value in (float("inf"), float("-inf")) or not 0 <= value <= MAX_SECONDS or (nonzero and text.lstrip()[:1] == "-"):
        raise ValueError(f"must be a number of seconds from 0 to {MAX_SECONDS:g}")
    if nonzero and value < 1e-9:
        raise ValueError(TOO_SMALL)
    return value + 0.0  # -0.0 is 0.0


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
    if len(text) > MAX_URL_LENGTH:
        raise ValueError(f"is longer than {MAX_URL_LENGTH} characters")
    text = text.strip()
    if not text.isascii():
        raise ValueError("is not ASCII (write a host name in its xn-- form, percent-encode the path)")
    if not text.isprintable():
        raise ValueError("contains control characters")
    if text[:7].lower() != "http://":
        raise ValueError("must be an http:// URL (the proxies' endpoints are plain HTTP)")
    rest = text[len("http://"):]
    # The authority ends at the first '/' or '?' (RFC 3986): http://h:1?a/b asks for /?a/b.
    end = min((at for at in (rest.find("/"), rest.find("?")) if at >= 0), default=len(rest))
    authority, path = rest[:end], rest[end:]
    path = path if path.startswith("/") else "/" + path
    if "#" in rest:
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
    """Comma-separated URLs (empty items skipped): at most MAX_URLS of them."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError("names no URL")
    if len(parts) > MAX_URLS:
        raise ValueError(f"names {len(parts)} URLs, more than {MAX_URLS}")
    return tuple(parse_url(part) for part in parts)


BOOLEAN_WORDS = "true or false (1/0, yes/no and on/off work too)"


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"is not a boolean (use {BOOLEAN_WORDS})")


def choice(*words: str):
    """One of ``words`` (lower-case), in any case and with blanks around: the word itself."""
    def parse(text: str) -> str:
        word = text.strip().lower()
        if word not in words:
            raise ValueError("is not one of " + ", ".join(words))
        return word
    return parse


def decoded(raw: bytes) -> str:
    """A variable, a value or a file name as os.fsdecode decodes it: undecodable bytes are kept
    (surrogateescape), so they go back to the app as they came."""
    return raw.decode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())
