"""scuttle and linkerd-await variables, with the meaning docs/migration.md promises."""
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
