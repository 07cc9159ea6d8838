"""A new user's first runs: a wrong command said at once, a wait that explains itself, options
put in the wrong place caught, misspelled variables named. Runs `python -m entrypoint` or
SK_TEST_BIN."""
import json
import re

import pytest

from tests.helpers.process import run, slow
from tests.helpers.lifecycle import SH, free_port, urls

pytestmark = pytest.mark.builds("python", "binary", "emulated")


@pytest.mark.parametrize("command, code, says", [
    (["/no/such/app"], 127, "cannot run '/no/such/app': not found"),
    (["no-such-app"], 127, "cannot run 'no-such-app': not found in PATH="),
    (["/etc"], 126, "cannot run '/etc': Permission denied"),
])
def test_a_command_that_cannot_run_is_said_before_any_wait(sidecar, command, code, says):
    fake = sidecar(ready_after=3600)  # never ready: the wait would take the whole timeout
    w = run(urls(fake, "--ready-timeout", "30", "--", *command))
    assert w.returncode == code
    assert says in w.stderr
    assert w.ended - w.started < slow(0.5) + 1.5, "no wait first"
    assert fake.requests_for("ready") == []
    assert len(fake.quits) == 1, "the proxy is still quit"


def test_a_wait_says_what_is_happening_every_few_seconds():
    w = run(["--ready-url", "http://127.0.0.1:9/ready", "--quit-url", "http://127.0.0.1:9/q",
             "--ready-timeout", "6", "--log-format", "json", "--", "true"], timeout=30)
    assert w.returncode == 69
    events = [json.loads(line) for line in w.stderr_lines]
    still = [e for e in events if e["event"] == "still_waiting"]
    assert len(still) == 1 and 5.0 <= still[0]["waited"] < 5.5
    assert "SIDECAR_KILLER_DISABLED=true" in still[0]["message"], "the local-run switch, within 10 s"
    assert "no proxy ever listened" in next(e for e in events if e["event"] == "not_started")["message"]


@pytest.mark.parametrize("argv, says", [
    (["--", "--no-wait"], "'--no-wait' comes after '--', where the app's command starts"),
    (["--", "--ready-timeout=5", "/app"], "or set SIDECAR_KILLER_READY_TIMEOUT"),
    (["--disabled", "true", "--", "/app"], "--disabled takes no value, so 'true' would be run as the app"),
])
def test_options_in_the_wrong_place_are_usage_errors_naming_the_right_one(argv, says):
    w = run(argv)
    assert w.returncode == 64 and says in w.stderr


def test_a_misspelled_variable_is_named_with_the_nearest_one():
    w = run(["--disabled", "--", "true"], extra_env={"SIDECAR_KILLER_DISABLE": "true",
                                                     "SIDECAR_KILLER_READYTIMEOUT": "5"})
    assert w.returncode == 0
    assert "SIDECAR_KILLER_DISABLE is not a sidecar-killer variable and is ignored; " \
           "did you mean SIDECAR_KILLER_DISABLED?" in w.stderr
    assert "did you mean SIDECAR_KILLER_READY_TIMEOUT?" in w.stderr


@pytest.mark.parametrize("value", ["5s", "1m30s", "2.5", "500ms"])
def test_durations_take_seconds_or_units(value):
    w = run(["--disabled", "--ready-timeout", value, "--", "true"], extra_env={"SIDECAR_KILLER_QUIT_TIMEOUT": value})
    assert w.returncode == 0, w.stderr


def test_a_usage_error_is_json_when_json_was_asked_for():
    w = run(["--log-format", "json", "--ready-timeout", "soon", "--", "true"])
    assert w.returncode == 64
    (record,) = [json.loads(line) for line in w.stderr_lines]
    assert record["event"] == "usage" and "'soon' is not a number of seconds" in record["message"]


def test_app_exited_gives_the_apps_own_run_time(sidecar):
    fake = sidecar(ready_after=1.2)
    w = run(urls(fake, "--", SH, "-c", "exit 3"))
    assert w.returncode == 3
    ran = float(re.search(r"app exited with code 3 after ([0-9.]+)s", w.stderr).group(1))
    assert ran < 0.5, "the app's run time, not the wrapper's age (which includes the 1.2 s wait)"


def test_quit_only_says_what_its_exit_code_is():
    w = run(["--quit-only", "--quit-url", "http://127.0.0.1:9/q", "--quit-timeout", "0.2"])
    assert w.returncode == 1
    assert "--quit-only exits 1" in w.stderr and "exit code is unchanged" not in w.stderr


@pytest.mark.parametrize("word", ["--help", "-h", "--version", "-V"])
def test_help_or_version_given_to_the_image_says_how_to_ask_the_wrapper(word):
    """`docker run IMAGE --help` with ENTRYPOINT ["/sidecar-killer", "--"]: the app's command is
    `--help`, a program nobody has; the line says how to ask the wrapper, and the app."""
    w = run(["--", word])
    assert w.returncode == 64
    assert f"docker run --rm --entrypoint /sidecar-killer IMAGE {word}" in w.stderr
    assert f"docker run --rm IMAGE /app {word}" in w.stderr


@pytest.mark.parametrize("argv, code", [
    (["--ready-timeout", "0.5", "--", "true"], 69),  # no proxy ever listened
    (["--", "/no/such/app"], 127),                    # said before any wait
])
def test_with_no_sidecar_at_all_nothing_warns_of_a_failed_quit(argv, code):
    """Nothing of the proxy ever answered: one info line says there is nothing to quit; no
    'could not quit' warning sends the reader after the wrong problem."""
    port = free_port()
    w = run(["--ready-url", f"http://127.0.0.1:{port}/ready", "--quit-url", f"http://127.0.0.1:{port}/quit", *argv])
    assert w.returncode == code
    assert "could not quit" not in w.stderr
    assert f"no proxy to quit: nothing listens at http://127.0.0.1:{port}/quit" in w.stderr


def test_a_timeout_set_through_scuttles_variable_is_named_as_set(sidecar):
    """The advice names what the user set (QUIT_WITHOUT_ENVOY_TIMEOUT), not our flag."""
    fake = sidecar(ready_after=3600)
    w = run(["--ready-url", fake.ready_url, "--quit-url", fake.quit_url, "--", "true"],
            extra_env={"QUIT_WITHOUT_ENVOY_TIMEOUT": "1s"})
    assert w.returncode == 69
    assert ("not starting the app (QUIT_WITHOUT_ENVOY_TIMEOUT means --on-ready-timeout=fail): "
            "raise QUIT_WITHOUT_ENVOY_TIMEOUT") in w.stderr


def test_the_local_run_hint_fits_a_grace_already_set():
    """SIDECAR_KILLER_NO_PROXY_GRACE=7 and still waiting at 5 s: the hint does not suggest a grace."""
    port = free_port()
    w = run(["--ready-url", f"http://127.0.0.1:{port}/ready", "--quit-url", f"http://127.0.0.1:{port}/q", "--", "true"],
            extra_env={"SIDECAR_KILLER_NO_PROXY_GRACE": "7"}, timeout=30)
    assert w.returncode == 0
    still = next(line for line in w.stderr_lines if "still waiting" in line)
    assert "with SIDECAR_KILLER_NO_PROXY_GRACE 7, the app runs without a proxy" in still
    assert "NO_PROXY_GRACE=30" not in w.stderr
    assert "(SIDECAR_KILLER_NO_PROXY_GRACE); running the app without" in w.stderr
