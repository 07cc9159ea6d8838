"""Bad values are usage errors (64) at start, one line naming them; odd stdio and our own bugs
never lose the app's exit code nor the quit."""
import os
import subprocess

import pytest

from entrypoint import config as configuration, lifecycle, quitting, supervisor
from tests.helpers.fakes import Recorder
from tests.helpers.process import run, wrapper_command

pytestmark = pytest.mark.builds("python", "binary", "emulated")

BAD_VALUES = [
    (["--quit-timeout", "1e10"], {}, "--quit-timeout: '1e10' must be a number of seconds from 0 to 86400"),
    (["--ready-timeout", "inf"], {}, "--ready-timeout: 'inf' must be a number of seconds"),
    ([], {"SIDECAR_KILLER_QUIT_TIMEOUT": "1e10"}, "SIDECAR_KILLER_QUIT_TIMEOUT: '1e10' must be"),
    ([], {"QUIT_REQUEST_TIMEOUT": "100000h"}, "QUIT_REQUEST_TIMEOUT: '100000h' is longer than 86400s"),
    (["--ready-url", "http://a b/ready"], {}, "neither a host name nor an IP address"),
    (["--quit-url", "http://127.0.0.1 /q"], {}, "neither a host name nor an IP address"),
    (["--ready-url", "http://127.0.0.1:0/ready"], {}, "has a bad port (1 to 65535)"),
    (["--quit-url", "http://127.0.0.1:15020/q\r\nX: y"], {}, "contains control characters"),
    (["--quit-url", "http://user:pw@127.0.0.1:15020/q"], {}, "has user information"),
    (["--ready-url", "http://127.0.0.1:15021/ready#top"], {}, "has a fragment"),
    (["--ready-url", "http://127.0.0.1:15021/a path"], {}, "has a path with a space"),
]


@pytest.mark.parametrize("argv, env, message", BAD_VALUES)
def test_bad_values_are_usage_errors_naming_them(argv, env, message):
    w = run(argv + ["--", "true"], extra_env=env)
    assert w.returncode == 64, w.stderr
    assert len(w.stderr_lines) == 1 and message in w.stderr
    assert w.stderr.isprintable()


def test_an_empty_command_is_a_usage_error():
    w = run(["--disabled", "--", ""])
    assert w.returncode == 64 and "the command is an empty string" in w.stderr


@pytest.mark.parametrize("fd", [0, 1, 2])
def test_a_closed_standard_descriptor_keeps_the_code_and_the_quit(sidecar, fd):
    fake = sidecar()
    command = wrapper_command() + ["--ready-url", fake.ready_url, "--quit-url", fake.quit_url,
                                   "--", "sh", "-c", "exit 5"]
    result = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(os.getcwd())},
                            stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                            preexec_fn=lambda: os.close(fd))
    assert result.returncode == 5, result.stderr
    assert len(fake.quits) == 1


def test_a_broken_stderr_pipe_keeps_the_code_and_the_quit(sidecar):
    fake = sidecar()
    read_end, write_end = os.pipe()
    os.close(read_end)  # every log line meets EPIPE
    result = subprocess.run(wrapper_command() + ["--ready-url", fake.ready_url, "--quit-url", fake.quit_url,
                                                 "--", "sh", "-c", "exit 6"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=write_end, timeout=30)
    os.close(write_end)
    assert result.returncode == 6
    assert len(fake.quits) == 1


def test_help_to_a_closed_stdout_is_an_io_error():
    result = subprocess.run(wrapper_command() + ["--help"], stdout=open("/dev/full", "w"), timeout=30)
    assert result.returncode == 74


# -- our own bugs, injected -------------------------------------------------------------------
def test_a_bug_while_waiting_still_quits_the_proxy_and_exits_70(monkeypatch):
    code, lines, quits = lifecycle_with(monkeypatch, "wait", ["--", "sh", "-c", "exit 3"])
    assert code == 70 and len(quits) == 1
    assert any(event == "internal_error" and "KeyError" in message for _, event, message in lines)


def test_a_bug_while_supervising_still_returns_the_apps_code_and_quits(monkeypatch):
    monkeypatch.setattr(supervisor.Supervisor, "run", lambda self: (_ for _ in ()).throw(KeyError("injected")))
    code, lines, quits = lifecycle_with(monkeypatch, None, ["--no-wait", "--", "sh", "-c", "exit 3"])
    assert code == 3 and len(quits) == 1
    assert any(event == "internal_error" for _, event, _ in lines)


def test_a_bug_while_quitting_keeps_the_apps_code(monkeypatch):
    code, lines, _ = lifecycle_with(monkeypatch, "finish", ["--no-wait", "--", "sh", "-c", "exit 3"])
    assert code == 3
    assert any(event == "internal_error" for _, event, _ in lines)


def test_a_failed_subreaper_prctl_is_said_once(monkeypatch):
    monkeypatch.setattr(lifecycle, "become_subreaper", lambda: False)
    code, lines, _ = lifecycle_with(monkeypatch, None, ["--no-wait", "--", "sh", "-c", "exit 0"])
    assert code == 0
    assert [event for _, event, _ in lines].count("no_subreaper") == 1


def lifecycle_with(monkeypatch, broken_step, argv):
    quits = []
    monkeypatch.setattr(lifecycle.signals, "block", lambda: None)
    monkeypatch.setattr(supervisor, "release_startup_memory", lambda: None)  # not in the test process
    monkeypatch.setattr(quitting, "quit_all", lambda proxy, *a, **k: quits.append(proxy) or True)
    if broken_step is not None:
        def bug(*args, **kwargs):
            raise KeyError("injected")
        monkeypatch.setattr(lifecycle, broken_step, bug)
    log = Recorder()
    return lifecycle.run(configuration.load(argv, {}), dict(os.environ), log), log.lines, quits
