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
        self.json = None
        if fmt == "json":
            import json  # only log pipelines pay for it
            self.json = json

    def _emit(self, severity: str, event: str, message: str, fields: dict):
        if _SEVERITY[severity] > self.threshold:
            return
        if self.json is not None:
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
            line = self.json.dumps({"time": stamp, "level": severity, "logger": PREFIX,
                                    "event": event, "message": message, **fields})
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
