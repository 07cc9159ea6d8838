"""Lifecycle lines on stderr, never stdout (stdout belongs to the app)."""
import sys
import time

PREFIX = "sidecar-killer"
LEVELS = {"quiet": 0, "info": 1, "debug": 2}
_SEVERITY = {"error": 0, "warning": 1, "info": 1, "debug": 2}


class Logger:
    """One line per event: ``sidecar-killer: proxy ready after 1.2s`` or one JSON object."""

    def __init__(self, fmt: str = "text", level: str = "info", stream=None):
        self.threshold = LEVELS[level]
        self.stream = stream if stream is not None else sys.stderr  # None: started with fd 2 closed
        self.json = fmt == "json"

    def _emit(self, severity: str, event: str, message: str, fields: dict):
        if _SEVERITY[severity] > self.threshold:
            return
        if self.json:
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
            line = json_object({"time": stamp, "level": severity, "logger": PREFIX, "event": event,
                                "message": message, **fields})
        else:
            if not message.isprintable():  # a command, a PATH: never a raw control character
                message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
            if severity in ("error", "warning"):
                line = f"{PREFIX}: {severity}: {message}"
            else:
                line = f"{PREFIX}: {message}"
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (AttributeError, OSError, ValueError):
            pass  # a closed or broken stderr must never change the app's exit code

    def error(self, event, message, **fields):
        self._emit("error", event, message, fields)

    def warning(self, event, message, **fields):
        self._emit("warning", event, message, fields)

    def info(self, event, message, **fields):
        self._emit("info", event, message, fields)

    def debug(self, event, message, **fields):
        self._emit("debug", event, message, fields)


# JSON as json.dumps writes it (ASCII only, its separators and escapes), without the json package:
# json.decoder brings re, enum, collections and functools into the binary and into a JSON start.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_FLOATS = {float("inf"): "Infinity", float("-inf"): "-Infinity"}


def json_object(fields: dict) -> str:
    return "{" + ", ".join(f"{json_string(name)}: {json_value(value)}" for name, value in fields.items()) + "}"


def json_value(value) -> str:
    """A field's value: a string, number, true, false or null; anything else as its str()."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return "NaN" if value != value else _FLOATS.get(value) or float.__repr__(value)
    return json_string(str(value))


def json_string(text: str) -> str:
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return '"' + "".join(_ESCAPES.get(c) or (c if " " <= c <= "~" else _escaped(c)) for c in text) + '"'


def _escaped(char: str) -> str:
    code = ord(char)
    if code > 0xFFFF:  # a surrogate pair, as JSON spells characters beyond the BMP
        code -= 0x10000
        return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"
    return f"\\u{code:04x}"
