"""Adversarial values through the real wrapper: each is refused (64) or warned about at once,
in one short line, however long or however built; a SIGTERM meanwhile still ends it. Runs
`python -m entrypoint` or SK_TEST_BIN.

A single argument or variable is at most 128 KiB on Linux (MAX_ARG_STRLEN), so "huge" here is
120,000 characters; tests/test_config.py takes a megabyte in process."""
import signal
import time

import pytest

from entrypoint.config import OPTIONS
from tests.helpers.process import run, slow

pytestmark = pytest.mark.builds("python", "binary", "emulated")

HUGE = "1" * 120_000
DURATION_VARIABLES = ["SIDECAR_KILLER_READY_TIMEOUT", "WAIT_FOR_ENVOY_TIMEOUT", "QUIT_WITHOUT_ENVOY_TIMEOUT",
                      "QUIT_REQUEST_TIMEOUT"]
DURATIONS = {"11m*40+x": "11m" * 40 + "x", "11m*1000+x": "11m" * 1000 + "x", "60000-digits+x": "1" * 60000 + "x"}


def budget() -> float:
    return slow(0.3) + 0.5


def refused_at_once(argv, env=None):
    w = run(argv + ["--", "true"], extra_env=env or {}, timeout=30)
    assert w.returncode == 64, w.stderr
    assert w.ended - w.started < budget()
    (line,) = w.stderr_lines
    assert len(line) < 400, "the value is quoted cut, not echoed whole"
    return line


@pytest.mark.parametrize("value", DURATIONS.values(), ids=DURATIONS.keys())
def test_a_pathological_duration_flag_is_a_usage_error_at_once(value):
    assert "--ready-timeout: '" in refused_at_once(["--ready-timeout", value])


@pytest.mark.parametrize("value", DURATIONS.values(), ids=DURATIONS.keys())
@pytest.mark.parametrize("name", DURATION_VARIABLES)
def test_a_pathological_duration_variable_is_a_usage_error_at_once(name, value):
    assert f"{name}: '" in refused_at_once([], {name: value})


# A pod annotation (Downward API) may be as long as Kubernetes allows, 256 KiB: more than any
# argument can be; native_sidecar.py ignores one that is not what the mesh writes.
BOUNDED = [option for option in OPTIONS if option.max_length < len(HUGE)]
ANNOTATIONS = [option for option in OPTIONS if option.max_length >= len(HUGE)]


@pytest.mark.parametrize("option", BOUNDED, ids=lambda option: option.name)
def test_a_huge_flag_value_is_a_usage_error_at_once(option):
    line = refused_at_once([f"{option.flag}={HUGE}"])
    assert f"{option.flag}: '{'1' * 80}...' (120000 characters) is longer than" in line


@pytest.mark.parametrize("option", BOUNDED, ids=lambda option: option.name)
def test_a_huge_variable_is_a_usage_error_at_once(option):
    assert f"{option.env}: '{'1' * 80}...' (120000 characters) is longer than" in refused_at_once([], {option.env: HUGE})


@pytest.mark.parametrize("option", ANNOTATIONS, ids=lambda option: option.name)
def test_a_huge_annotation_is_taken_at_once(option):
    w = run(["--disabled", f"{option.flag}={HUGE}", "--", "true"], extra_env={option.env: HUGE}, timeout=30)
    assert w.returncode == 0, w.stderr
    assert w.ended - w.started < budget()


@pytest.mark.parametrize("environ, lines", [
    pytest.param({"SIDECAR_KILLER_" + "A" * 60000: "1"}, 1, id="60000-character-name"),
    pytest.param({f"SIDECAR_KILLER_READY_TIMEOU{i}": "1" for i in range(2000)}, 11, id="2000-unknown"),
])
def test_unknown_variables_are_warned_about_in_a_few_short_lines(environ, lines):
    w = run(["--disabled", "--", "true"], extra_env=environ, timeout=30)
    assert w.returncode == 0, w.stderr
    assert w.ended - w.started < budget()
    warnings = [line for line in w.stderr_lines if "SIDECAR_KILLER_" in line]
    assert len(warnings) == lines and all(len(line) < 250 for line in warnings)


def test_sigterm_during_the_worst_start_ends_it_at_once():
    """The slowest input there is (every pathological value, thousands of unknown variables):
    a SIGTERM 50 ms in finds it refused already (64) or ends it (143, or killed by the signal
    before Python handles it)."""
    env = {f"SIDECAR_KILLER_READY_TIMEOU{i}": "1" for i in range(2000)}
    env.update({name: DURATIONS["11m*1000+x"] for name in DURATION_VARIABLES})
    env["SIDECAR_KILLER_" + "A" * 60000] = "1"
    w = run(["--ready-timeout", DURATIONS["11m*1000+x"], "--", "true"], extra_env=env, timeout=30,
            kill_when=lambda w: time.monotonic() - w.started >= 0.05, kill_with=signal.SIGTERM)
    assert w.returncode in (64, 143, -signal.SIGTERM), w.stderr
    assert w.ended - w.killed_mono < slow(0.3) + 1.0
