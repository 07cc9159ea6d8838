"""Lifecycle lines: one per event, on stderr, never fatal, never a raw control character."""
import io
import json

import pytest

from entrypoint.log import Logger


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
