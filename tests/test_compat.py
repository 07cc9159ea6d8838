"""scuttle and linkerd-await variables, with the meaning docs/migration.md promises."""
import time

import pytest

from entrypoint.values import parse_go_duration
from entrypoint.config import UsageError, load

ISTIO_QUIT = "http://127.0.0.1:15020/quitquitquit"


def cfg(**env):
    return load(["/app"], env)


@pytest.mark.parametrize("text, seconds", [
    ("0", 0), ("-0", 0), ("10s", 10), ("1m30s", 90), ("500ms", 0.5), ("1.5h", 5400), (".5s", 0.5),
    ("1.s", 1), ("2us", 2e-6), ("3µs", 3e-6), ("4μs", 4e-6), ("7ns", 7e-9), ("-2s", -2), ("+1m", 60),
    ("2562047h", 2562047 * 3600)])
def test_go_durations(text, seconds):
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10", "10S", "1d", "1e3s", "1 s", "s", "", ".s", "2562048h"])
def test_invalid_go_durations(text):
    with pytest.raises(ValueError):
        parse_go_duration(text)


def test_envoy_admin_api_is_polled_at_ready():
    config = cfg(ENVOY_ADMIN_API="http://127.0.0.1:15000/")
    assert str(config.ready_url) == "http://127.0.0.1:15000/ready"
    assert config.quit_on == "always"
    assert [str(u) for u in config.quit_urls] == [ISTIO_QUIT]


def test_envoy_admin_api_not_on_loopback_never_quits():
    assert cfg(ENVOY_ADMIN_API="http://envoy.internal:15000").quit_on == "never"


def test_istio_quit_api_and_generic_endpoints():
    config = cfg(ISTIO_QUIT_API="http://127.0.0.1:9020", GENERIC_QUIT_ENDPOINTS="http://127.0.0.2:1/q, ,http://localhost:2/x")
    assert [str(u) for u in config.quit_urls] == \
        ["http://127.0.0.2:1/q", "http://localhost:2/x", "http://127.0.0.1:9020/quitquitquit"]


def test_generic_endpoints_come_before_the_preset_quit():
    config = cfg(GENERIC_QUIT_ENDPOINTS="http://127.0.0.1:1/q")
    assert [str(u) for u in config.quit_urls] == ["http://127.0.0.1:1/q", ISTIO_QUIT]


@pytest.mark.parametrize("env, quit_on, quit_urls", [
    ({"NEVER_KILL_ISTIO": "true"}, "never", [ISTIO_QUIT]),
    ({"NEVER_KILL_ISTIO_ON_FAILURE": "true"}, "success", [ISTIO_QUIT]),
    ({"NEVER_KILL_ISTIO": "true", "NEVER_KILL_ISTIO_ON_FAILURE": "true"}, "never", [ISTIO_QUIT]),
    ({"NEVER_KILL_ISTIO": "false"}, "always", [ISTIO_QUIT]),
    ({"GENERIC_QUIT_ONLY": "true"}, "never", []),  # nothing to quit, not even with --quit-only
    # GENERIC_QUIT_ONLY: Istio is never asked, so NEVER_KILL_ISTIO does not hold the generic quit
    ({"GENERIC_QUIT_ONLY": "true", "GENERIC_QUIT_ENDPOINTS": "http://127.0.0.1/q", "NEVER_KILL_ISTIO": "true"},
     "always", ["http://127.0.0.1/q"]),
])
def test_quit_rules(env, quit_on, quit_urls):
    config = cfg(**env)
    assert (config.quit_on, [str(url) for url in config.quit_urls]) == (quit_on, quit_urls)


def test_generic_quit_only_posts_only_the_generic_endpoints_and_does_not_wait_without_envoy():
    config = cfg(GENERIC_QUIT_ONLY="true", GENERIC_QUIT_ENDPOINTS="http://127.0.0.1/q")
    assert [str(u) for u in config.quit_urls] == ["http://127.0.0.1/q"]
    assert config.no_wait


@pytest.mark.parametrize("env, expected", [
    ({"START_WITHOUT_ENVOY": "true", "QUIT_WITHOUT_ENVOY_TIMEOUT": "5s"}, (True, 60.0, "fail")),
    ({"WAIT_FOR_ENVOY_TIMEOUT": "30s"}, (False, 30.0, "run")),
    ({"WAIT_FOR_ENVOY_TIMEOUT": "0s"}, (False, 0.0, "run")),
    ({"WAIT_FOR_ENVOY_TIMEOUT": "-5s"}, (False, 0.0, "run")),
    ({"QUIT_WITHOUT_ENVOY_TIMEOUT": "1m", "WAIT_FOR_ENVOY_TIMEOUT": "30s"}, (False, 60.0, "fail")),
    ({"QUIT_WITHOUT_ENVOY_TIMEOUT": "0s", "WAIT_FOR_ENVOY_TIMEOUT": "30s"}, (False, 30.0, "run")),
])
def test_waiting_rules(env, expected):
    config = cfg(**env)
    assert (config.no_wait, config.ready_timeout, config.on_ready_timeout) == expected


def test_quit_request_timeout_and_logging():
    config = cfg(QUIT_REQUEST_TIMEOUT="2500ms", SCUTTLE_LOGGING="false")
    assert (config.quit_timeout, config.log_level) == (2.5, "quiet")


@pytest.mark.parametrize("name", ["LINKERD_AWAIT_DISABLED", "LINKERD_DISABLED"])
@pytest.mark.parametrize("value", ["1", "true", "false"])
def test_linkerd_await_disabled_any_value(name, value):
    assert cfg(**{name: value}).disabled


def test_our_variables_and_flags_win():
    env = {"NEVER_KILL_ISTIO": "true", "SIDECAR_KILLER_QUIT_ON": "success", "WAIT_FOR_ENVOY_TIMEOUT": "5s",
           "LINKERD_AWAIT_DISABLED": "1", "SIDECAR_KILLER_DISABLED": "false"}
    config = load(["--ready-timeout", "9", "/app"], env)
    assert (config.quit_on, config.ready_timeout, config.on_ready_timeout, config.disabled) == \
        ("success", 9.0, "run", False)


@pytest.mark.parametrize("env, message", [
    ({"NEVER_KILL_ISTIO": "True"}, "NEVER_KILL_ISTIO: 'True' is not a boolean"),
    ({"WAIT_FOR_ENVOY_TIMEOUT": "10"}, "WAIT_FOR_ENVOY_TIMEOUT: '10' is not a Go duration"),
    ({"ENVOY_ADMIN_API": "https://127.0.0.1:15000"}, "ENVOY_ADMIN_API: 'https://127.0.0.1:15000' must be an http://"),
    ({"GENERIC_QUIT_ENDPOINTS": "https://x/q"}, "GENERIC_QUIT_ENDPOINTS: 'https://x/q' must be an http://"),
    ({"QUIT_REQUEST_TIMEOUT": "-1s"}, "QUIT_REQUEST_TIMEOUT: '-1s' must not be negative"),
    ({"ISTIO_QUIT_API": "http://istio.example:15020"}, "quit URL 'http://istio.example:15020/quitquitquit' is not on loopback"),
    ({"GENERIC_QUIT_ENDPOINTS": "http://127.0.0.1/q,http://logs:9/quit"}, "quit URL 'http://logs:9/quit' is not on loopback"),
    ({"ENVOY_ADMIN_API": "http://ënvoy:15000"}, "ENVOY_ADMIN_API: 'http://ënvoy:15000' is not ASCII"),
])
def test_bad_compat_values_are_usage_errors(env, message):
    with pytest.raises(UsageError) as error:
        cfg(**env)
    assert message in str(error.value)


def test_unset_or_empty_means_not_given():
    assert cfg(NEVER_KILL_ISTIO="", ENVOY_ADMIN_API="") == cfg()


# -- Go's own ParseDuration table (src/time/time_test.go), to the nanosecond -----------------------
S, MS, US, M, H = 10**9, 10**6, 1000, 60 * 10**9, 3600 * 10**9


@pytest.mark.parametrize("text, nanoseconds", [
    ("0", 0), ("5s", 5 * S), ("1478s", 1478 * S), ("-5s", -5 * S), ("+5s", 5 * S), ("-0", 0), ("+0", 0),
    ("5.0s", 5 * S), ("5.6s", 5 * S + 600 * MS), ("5.s", 5 * S), (".5s", 500 * MS), ("1.004s", S + 4 * MS),
    ("100.00100s", 100 * S + MS), ("10ns", 10), ("11us", 11 * US), ("12µs", 12 * US), ("12μs", 12 * US),
    ("13ms", 13 * MS), ("15m", 15 * M), ("16h", 16 * H), ("3h30m", 3 * H + 30 * M),
    ("10.5s4m", 4 * M + 10 * S + 500 * MS), ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
    ("1h2m3s4ms5us6ns", H + 2 * M + 3 * S + 4 * MS + 5 * US + 6), ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
    ("52763797000ns", 52763797000), ("0.3333333333333333333h", 20 * M), ("9007199254740993ns", 2**53 + 1),
    ("9223372036854775807ns", 2**63 - 1), ("9223372036854775.807us", 2**63 - 1),
    ("9223372036s854ms775us807ns", 2**63 - 1), ("-9223372036854775808ns", -2**63),
    ("-9223372036854775.808us", -2**63), ("-2562047h47m16.854775808s", -2**63),
    ("0.100000000000000000000h", 6 * M), ("0.830103483285477580700h", 49 * M + 48 * S + 372539827),
])
def test_go_durations_to_the_nanosecond(text, nanoseconds):
    assert parse_go_duration(text) == nanoseconds / 1e9


@pytest.mark.parametrize("text", [
    "", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "\x85\x85", "\ufffd", "00", "+-1s", "1s.5", "1h 2m", " 1s",
    "１s",  # a full-width digit: Go reads ASCII digits only
    "9223372036854775810ns", "9223372036854775808ns", "-9223372036854775809ns", "9223372036854776us",
    "3000000h", "9223372036854775.808us", "9223372036854ms775us808ns"])
def test_what_go_refuses_is_refused(text):
    with pytest.raises(ValueError):
        parse_go_duration(text)


@pytest.mark.parametrize("text", ["0.1ns", "0.0000000001s", "-0.5ns"])
def test_a_duration_that_is_not_zero_is_never_truncated_to_zero(text):
    """Go truncates 0.1ns to 0; 0 means "no limit" to --ready-timeout, so it is refused."""
    with pytest.raises(ValueError, match="is too small"):
        parse_go_duration(text)


@pytest.mark.parametrize("name", ["WAIT_FOR_ENVOY_TIMEOUT", "QUIT_WITHOUT_ENVOY_TIMEOUT", "QUIT_REQUEST_TIMEOUT"])
@pytest.mark.parametrize("value, says", [
    pytest.param("11m" * 40 + "x", "is too long for a duration", id="11m*40+x"),  # backtracked for hours
    pytest.param("11m" * 1000 + "x", "is too long for a duration", id="11m*1000+x"),
    pytest.param("1" * 60 + "x", "is not a Go duration", id="60-digits+x"),  # quadratic before
    pytest.param("1" * 60000 + "x", "is too long for a duration", id="60000-digits+x"),
    pytest.param("x" * 1_000_000, "is longer than 65536 characters", id="1MB"),
])
def test_scuttle_durations_are_refused_at_once_whatever_their_length(name, value, says):
    started = time.perf_counter()
    with pytest.raises(UsageError) as error:
        cfg(**{name: value})
    assert time.perf_counter() - started < 0.05
    message = str(error.value)
    assert message.startswith(f"{name}: '") and says in message
    assert len(message) < 300, "the value is quoted cut, not whole"


@pytest.mark.parametrize("name", ["ENVOY_ADMIN_API", "ISTIO_QUIT_API", "GENERIC_QUIT_ENDPOINTS", "NEVER_KILL_ISTIO",
                                  "START_WITHOUT_ENVOY", "GENERIC_QUIT_ONLY", "SCUTTLE_LOGGING"])
def test_any_scuttle_value_of_a_megabyte_is_refused_quoted_short(name):
    started = time.perf_counter()
    with pytest.raises(UsageError) as error:
        cfg(**{name: "h" * 1_000_000})
    assert time.perf_counter() - started < 0.05
    assert "is longer than 65536 characters" in str(error.value) and "(1000000 characters)" in str(error.value)
    assert len(str(error.value)) < 300


def test_a_long_url_is_refused_before_it_is_parsed():
    with pytest.raises(UsageError) as error:
        cfg(ENVOY_ADMIN_API="http://127.0.0.1:15000/" + "a" * 3000)
    assert str(error.value) == f"ENVOY_ADMIN_API: 'http://127.0.0.1:15000/{'a' * 57}...' (3023 characters) " \
        "is longer than 2048 characters"
