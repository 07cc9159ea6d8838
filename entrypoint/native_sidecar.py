"""Is the proxy a Kubernetes native sidecar? Then the kubelet stops it once the app's container
is done, and a quit from here would only make the kubelet restart it.

Read from what the pod's annotations say, passed in through the Downward API:

- Istio writes ``sidecar.istio.io/status`` at injection: a JSON object whose
  ``initContainers`` lists ``istio-proxy`` when it is native (``containers`` when classic);
- Linkerd writes no marker of its own. A pod asks for a native proxy, or a classic one, with
  ``config.linkerd.io/proxy-enable-native-sidecar`` (Linkerd 2.20; ``config.beta.linkerd.io/``
  in 2.19, ``config.alpha.linkerd.io/`` from 2.15, both still read), set on the pod's template or
  on its namespace (the injector copies it onto the pod). Linkerd reads the value with Go's
  ``strconv.ParseBool`` and ignores any other word; so does ``linkerd_native``. Native sidecars
  turned on for the whole install (``proxy.nativeSidecar``, Linkerd 2.20's default) leave nothing
  on the pod: ``--native-sidecar`` says so.

The JSON is read by the small parser below: ``json`` would bring ``re`` into the start.
"""
# Istio's status annotation is a few hundred bytes; anything far beyond that is not it.
MAX_STATUS_LENGTH = 65536
# Go's strconv.ParseBool, with which Linkerd's injector reads its annotation: these words
# exactly (no case folding, no trimming). Any other value is an error that Linkerd ignores.
GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")
# Its name has a prefix that depends on Linkerd's version: messages leave it out.
LINKERD_ANNOTATION = "proxy-enable-native-sidecar annotation"
# How much of an unknown annotation value a message quotes.
SHOWN = 20


def istio_native(status: str) -> tuple:
    """(native: bool | None, why: str) from the status annotation; None when it says nothing."""
    if not status.strip():
        return None, "no sidecar.istio.io/status annotation"
    if len(status) > MAX_STATUS_LENGTH:
        return None, f"sidecar.istio.io/status is over {MAX_STATUS_LENGTH} characters: ignored"
    try:
        value = _Reader(status).document()
    except ValueError as error:
        return None, f"sidecar.istio.io/status is not JSON ({error}): ignored"
    if not isinstance(value, dict):
        return None, "sidecar.istio.io/status is not a JSON object: ignored"
    init = value.get("initContainers") or []
    if isinstance(init, list) and "istio-proxy" in init:
        return True, "sidecar.istio.io/status lists istio-proxy among the initContainers"
    containers = value.get("containers") or []
    if isinstance(containers, list) and "istio-proxy" in containers:
        return False, "sidecar.istio.io/status lists istio-proxy among the containers"
    return None, "sidecar.istio.io/status lists no istio-proxy"


def linkerd_native(annotation: str) -> tuple:
    """(native: bool | None, why: str) from Linkerd's proxy-enable-native-sidecar annotation,
    read as Linkerd reads it; None when it is absent or a word Linkerd ignores."""
    if annotation == "":
        return None, f"no Linkerd {LINKERD_ANNOTATION}"
    if annotation in GO_TRUE or annotation in GO_FALSE:
        return annotation in GO_TRUE, f"Linkerd's {LINKERD_ANNOTATION} is {annotation!r}"
    return None, (f"Linkerd's {LINKERD_ANNOTATION} is {_shown(annotation)}: not true or false "
                  "(nor Go's other boolean words), so Linkerd ignores it too")


def _shown(value: str) -> str:
    """The start of a value, quoted, with what cannot be printed escaped."""
    shown = repr(value[:SHOWN])
    return shown if len(value) <= SHOWN else f"{shown}... ({len(value)} characters)"


def decide(told: bool, istio_status: str, linkerd_annotation: str) -> tuple:
    """(native: bool, why: str): told by --native-sidecar, else what the annotations say,
    else classic (today's behaviour: wait and quit)."""
    if told:
        return True, "--native-sidecar"
    said = (istio_native(istio_status), linkerd_native(linkerd_annotation))
    for native, why in said:
        if native is not None:
            return native, why
    return False, "; ".join(why for _, why in said)


class _Reader:
    """A JSON reader for one bounded text: objects, arrays, strings, numbers, literals."""

    def __init__(self, text: str):
        self.text, self.at = text, 0

    def document(self):
        value = self.value(depth=0)
        self.space()
        if self.at != len(self.text):
            raise ValueError(f"unexpected {self.text[self.at]!r} at {self.at}")
        return value

    def space(self):
        while self.at < len(self.text) and self.text[self.at] in " \t\r\n":
            self.at += 1

    def expect(self, char: str):
        self.space()
        if not self.text.startswith(char, self.at):
            raise ValueError(f"expected {char!r} at {self.at}")
        self.at += 1

    def value(self, depth: int):
        if depth > 32:
            raise ValueError("nested too deep")
        self.space()
        char = self.text[self.at:self.at + 1]
        if char == "{":
            return self.members(depth)
        if char == "[":
            return self.items(depth)
        if char == '"':
            return self.string()
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.at):
                self.at += len(word)
                return value
        start = self.at
        while self.at < len(self.text) and self.text[self.at] in "+-0123456789.eE":
            self.at += 1
        if start == self.at:
            raise ValueError(f"unexpected {char!r} at {start}" if char else "unexpected end")
        return float(self.text[start:self.at])

    def members(self, depth: int) -> dict:
        self.expect("{")
        found: dict = {}
        self.space()
        if self.text.startswith("}", self.at):
            self.at += 1
            return found
        while True:
            self.space()
            key = self.string()
            self.expect(":")
            found[key] = self.value(depth + 1)
            self.space()
            if self.text.startswith("}", self.at):
                self.at += 1
                return found
            self.expect(",")

    def items(self, depth: int) -> list:
        self.expect("[")
        found: list = []
        self.space()
        if self.text.startswith("]", self.at):
            self.at += 1
            return found
        while True:
            found.append(self.value(depth + 1))
            self.space()
            if self.text.startswith("]", self.at):
                self.at += 1
                return found
            self.expect(",")

    def string(self) -> str:
        self.expect('"')
        parts = []
        while True:
            quote = self.text.find('"', self.at)
            if quote < 0:
                raise ValueError("unterminated string")
            backslash = self.text.find("\\", self.at, quote)
            if backslash < 0:
                parts.append(self.text[self.at:quote])
                self.at = quote + 1
                return "".join(parts)
            parts.append(self.text[self.at:backslash])
            code = self.text[backslash + 1:backslash + 2]
            digits = self.text[backslash + 2:backslash + 6]
            if code == "u" and len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                parts.append(chr(int(digits, 16)))
                self.at = backslash + 6
            elif code and code in _ESCAPES:
                parts.append(_ESCAPES[code])
                self.at = backslash + 2
            else:
                raise ValueError(f"bad escape at {backslash}")


_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
