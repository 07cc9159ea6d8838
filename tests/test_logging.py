"""Lifecycle lines: one per event, on stderr, never fatal, never a raw control character."""
import io
import json
import random
from pathlib import Path

import pytest

from entrypoint.log import Logger, json_string


def test_text_log_is_one_prefixed_line():
    stream = io.StringIO()
    Logger("text", "info", stream).info("proxy_ready", "proxy ready after 1.2s", waited=1.2)
    assert stream.getvalue() == "sidecar-killer: proxy ready after 1.2s\n"


def test_json_log_carries_event_and_fields():
    stream = io.StringIO()
    Logger("json", "info", stream).warning("quit_failed", "could not quit", attempts=3)
    record = json.loads(stream.getvalue())
    assert (record["level"], record["event"], record["attempts"], record["message"]) == \
        ("warning", "quit_failed", 3, "could not quit")


HOSTILE = ["", "plain", 'a"b\\c', "\x00\x01\x1f\x7f", "\b\f\n\r\t", "é\u2028\u2029", "\U0001F600", "\udcff\ud800",
           "sidecar-killer: forged\r\x1b[31m", "x" * 10000]


@pytest.mark.parametrize("value", [*HOSTILE, 0, -7, 2 ** 64, 0.25, 1e300, float("inf"), float("-inf"),
                                   float("nan"), True, False, None])
def test_json_lines_are_what_json_dumps_writes(value):
    stream = io.StringIO()
    Logger("json", "info", stream).info("e", "m", value=value)
    line = stream.getvalue()
    assert line.endswith("}\n") and line.count("\n") == 1
    assert line[line.index('"value": '):] == f'"value": {json.dumps(value)}}}\n'


def test_json_strings_are_what_json_dumps_writes_for_any_character():
    """Every kind of code point in random strings: ASCII, two-byte, lone surrogates, beyond the BMP."""
    rng = random.Random(20261203)
    for _ in range(3000):
        text = "".join(chr(rng.choice([rng.randrange(0, 0x80), rng.randrange(0x80, 0x800),
                                       rng.randrange(0xD800, 0xE000), rng.randrange(0x10000, 0x110000)]))
                       for _ in range(rng.randrange(12)))
        assert json_string(text) == json.dumps(text)


def test_a_json_field_of_another_type_is_its_text_never_an_error():
    stream = io.StringIO()
    Logger("json", "info", stream).info("e", "m", where=Path("/a"))
    assert json.loads(stream.getvalue())["where"] == "/a"


def test_quiet_keeps_only_errors():
    stream = io.StringIO()
    log = Logger("text", "quiet", stream)
    log.info("a", "info line")
    log.warning("b", "warning line")
    log.error("c", "error line")
    assert stream.getvalue() == "sidecar-killer: error: error line\n"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_control_characters_never_reach_the_log_raw(fmt):
    stream = io.StringIO()
    Logger(fmt, "info", stream).error("not_found", "cannot run 'a\nsidecar-killer: forged\r\x1b[31m'")
    assert stream.getvalue().count("\n") == 1
    assert not any(c in stream.getvalue()[:-1] for c in "\r\n\x1b")


class Broken(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("stream", [Broken(), None, "closed"], ids=["broken-pipe", "fd-closed-at-start", "closed"])
def test_a_broken_or_closed_stderr_drops_the_line_and_nothing_else(monkeypatch, stream):
    if stream == "closed":
        stream = io.StringIO()
        stream.close()
    monkeypatch.setattr("sys.stderr", stream)
    log = Logger("text", "info")
    log.info("a", "nobody reads this")
    log.error("b", "nor this")
    assert log.stream is stream
