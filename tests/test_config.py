"""Configuration: flags, environment variables, presets, precedence and one-line errors."""
import math
import time

import pytest

from entrypoint import exitcodes
from entrypoint.config import (_ENV_NAMES, BY_NAME, OPTIONS, Config, Option, UsageError, _edit_distance, help_text,
                               load, nearest, requested_log_format, unknown_variables)
from tests.helpers.process import REPO


def test_defaults_are_istio():
    config = load(["/app"], {})
    assert str(config.ready_url) == "http://127.0.0.1:15021/healthz/ready"
    assert [str(u) for u in config.quit_urls] == ["http://127.0.0.1:15020/quitquitquit"]
    assert (config.ready_timeout, config.on_ready_timeout, config.quit_timeout, config.quit_on) == \
        (60.0, "fail", 10.0, "always")
    assert config.command == ["/app"]


@pytest.mark.parametrize("mesh, ready, quit", [
    ("linkerd", "http://127.0.0.1:4191/ready", "http://127.0.0.1:4191/shutdown"),
    ("consul", "http://127.0.0.1:19000/ready", "http://127.0.0.1:20600/graceful_shutdown"),
    ("kuma", "http://127.0.0.1:9902/ready", "http://127.0.0.1:9901/quitquitquit"),
])
def test_mesh_presets(mesh, ready, quit):
    config = load(["--mesh", mesh, "/app"], {})
    assert str(config.ready_url) == ready
    assert [str(u) for u in config.quit_urls] == [quit]
    assert f"{mesh} {ready.split(':')[2].split('/')[0]}/{quit.split(':')[2].split('/')[0]}" in help_text("9.9")


def test_explicit_url_beats_the_preset():
    config = load(["--mesh=linkerd", "--ready-url=http://localhost:9/r", "/app"], {})
    assert (config.ready_url.host, config.ready_url.port, config.ready_url.path) == ("localhost", 9, "/r")
    assert str(config.quit_urls[0]) == "http://127.0.0.1:4191/shutdown"


def test_flag_wins_over_environment():
    env = {"SIDECAR_KILLER_READY_TIMEOUT": "5", "SIDECAR_KILLER_QUIT_ON": "never"}
    config = load(["--ready-timeout", "7", "/app"], env)
    assert config.ready_timeout == 7.0
    assert config.quit_on == "never"


def test_every_option_has_an_environment_variable():
    env = {"SIDECAR_KILLER_READY_URL": "http://h:1/a", "SIDECAR_KILLER_READY_TIMEOUT": "0",
           "SIDECAR_KILLER_ON_READY_TIMEOUT": "run", "SIDECAR_KILLER_QUIT_URL": "http://h:2/q, http://h:3/s",
           "SIDECAR_KILLER_QUIT_TIMEOUT": "2.5", "SIDECAR_KILLER_QUIT_ON": "success",
           "SIDECAR_KILLER_MESH": "linkerd", "SIDECAR_KILLER_SIGNAL_GROUP": "yes",
           "SIDECAR_KILLER_LOG_FORMAT": "json", "SIDECAR_KILLER_LOG_LEVEL": "debug",
           "SIDECAR_KILLER_DISABLED": "TRUE", "SIDECAR_KILLER_ALLOW_REMOTE_QUIT": "1",
           "SIDECAR_KILLER_NO_PROXY_GRACE": "7"}
    config = load(["/app"], env)
    assert str(config.ready_url) == "http://h:1/a"
    assert config.ready_timeout == 0
    assert config.on_ready_timeout == "run"
    assert [str(u) for u in config.quit_urls] == ["http://h:2/q", "http://h:3/s"]
    assert config.quit_timeout == 2.5
    assert config.quit_on == "success"
    assert config.mesh == "linkerd"
    assert config.signal_group is True
    assert (config.log_format, config.log_level) == ("json", "debug")
    assert config.disabled is True
    assert config.allow_remote_quit is True
    assert config.no_proxy_grace == 7.0


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("yes", True),
                                             ("0", False), ("false", False), ("no", False), ("", False)])
def test_disabled_values(value, expected):
    assert load(["/app"], {"SIDECAR_KILLER_DISABLED": value}).disabled is expected


def test_quit_url_repeats():
    config = load(["--quit-url", "http://127.0.0.2:1/q", "--quit-url=http://localhost:2/q", "/app"], {})
    assert [(u.host, u.port) for u in config.quit_urls] == [("127.0.0.2", 1), ("localhost", 2)]


def test_command_starts_at_first_non_option_and_keeps_its_own_options():
    config = load(["--quit-on", "never", "/app", "--ready-timeout", "x", "--"], {})
    assert config.command == ["/app", "--ready-timeout", "x", "--"]


def test_double_dash_ends_options():
    assert load(["--", "--weird-app", "-x"], {}).command == ["--weird-app", "-x"]


@pytest.mark.parametrize("argv, env, message", [
    (["--nope", "/app"], {}, "unknown option '--nope'"),
    (["--ready-timeout", "soon", "/app"], {}, "--ready-timeout: 'soon' is not a number of seconds"),
    (["--ready-timeout=-1", "/app"], {}, "--ready-timeout: '-1' must be a number of seconds from 0 to 86400"),
    (["--quit-timeout=nan", "/app"], {}, "--quit-timeout: 'nan' must be a number of seconds from 0 to 86400"),
    (["--ready-url", "https://x/ready", "/app"], {}, "--ready-url: 'https://x/ready' must be an http:// URL"),
    (["--quit-url", "http:///q", "/app"], {}, "--quit-url: 'http:///q' has no host"),
    (["--quit-url", "http://h:port/q", "/app"], {}, "--quit-url: 'http://h:port/q' has a bad port"),
    (["--quit-on", "sometimes", "/app"], {}, "--quit-on: 'sometimes' is not one of always, success, never"),
    (["--mesh", "nginx", "/app"], {}, "--mesh: 'nginx' is not one of istio, linkerd, consul, kuma"),
    (["--ready-timeout"], {}, "--ready-timeout needs a value"),
    (["--signal-group=maybe", "/app"], {}, "--signal-group: 'maybe' is not a boolean"),
    ([], {}, "no command to run"),
    (["--"], {}, "no command to run"),
    (["/app"], {"SIDECAR_KILLER_QUIT_TIMEOUT": "ten"}, "SIDECAR_KILLER_QUIT_TIMEOUT: 'ten' is not a number"),
    (["/app"], {"SIDECAR_KILLER_DISABLED": "maybe"}, "SIDECAR_KILLER_DISABLED: 'maybe' is not a boolean"),
    (["/app"], {"SIDECAR_KILLER_QUIT_URL": " , "}, "SIDECAR_KILLER_QUIT_URL: ' , ' names no URL"),
    (["--check-ready", "/app"], {}, "--check-ready takes no command"),
    (["--check-ready", "--quit-only"], {}, "cannot be combined"),
    (["--ready-url", "http://bücher.example/r", "/app"], {}, "--ready-url: 'http://bücher.example/r' is not ASCII"),
    (["/app"], {"SIDECAR_KILLER_QUIT_URL": "http://127.0.0.1/qüit"}, "SIDECAR_KILLER_QUIT_URL: "),
    (["--no-proxy-grace", "60", "/app"], {}, "--no-proxy-grace 60 must be shorter than --ready-timeout 60"),
])
def test_usage_errors_name_the_option_and_value(argv, env, message):
    with pytest.raises(UsageError) as error:
        load(argv, env)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


# -- quit URLs stay on loopback unless allowed ------------------------------------------
REMOTE_QUIT = "quit URL 'http://10.0.0.5:15020/quitquitquit' is not on loopback"
ALLOW = "--allow-remote-quit (SIDECAR_KILLER_ALLOW_REMOTE_QUIT=true)"


@pytest.mark.parametrize("argv, env", [
    (["--quit-url", "http://10.0.0.5:15020/quitquitquit", "/app"], {}),
    (["/app"], {"SIDECAR_KILLER_QUIT_URL": "http://127.0.0.1:1/q,http://10.0.0.5:15020/quitquitquit"}),
    (["--quit-only", "--quit-on", "never", "--quit-url", "http://10.0.0.5:15020/quitquitquit"], {}),
    (["/app"], {"ISTIO_QUIT_API": "http://10.0.0.5:15020"}),
    (["/app"], {"GENERIC_QUIT_ENDPOINTS": "http://10.0.0.5:15020/quitquitquit"}),
])
def test_a_quit_url_off_loopback_is_a_usage_error_naming_it_and_the_way_out(argv, env):
    with pytest.raises(UsageError) as error:
        load(argv, env)
    assert REMOTE_QUIT in str(error.value) and ALLOW in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("argv, env", [
    (["--allow-remote-quit", "--quit-url", "http://10.0.0.5:15020/quitquitquit", "/app"], {}),
    (["/app"], {"SIDECAR_KILLER_ALLOW_REMOTE_QUIT": "true", "ISTIO_QUIT_API": "http://sidecar.internal:15020"}),
])
def test_remote_quit_urls_are_allowed_on_request(argv, env):
    assert not load(argv, env).quit_urls[0].host.startswith("127.")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "localhost", "LocalHost", "[::1]", "[0:0::1]"])
def test_loopback_quit_urls_need_no_permission(host):
    assert load(["--quit-url", f"http://{host}:15020/quitquitquit", "/app"], {}).quit_urls


@pytest.mark.parametrize("argv, env", [
    (["--quit-on", "never", "--quit-url", "http://10.0.0.5:1/q", "/app"], {}),
    (["--disabled", "--quit-url", "http://10.0.0.5:1/q", "/app"], {}),
    # scuttle never quits when its admin API is off loopback: nothing will be POSTed, nothing to refuse
    (["/app"], {"ENVOY_ADMIN_API": "http://envoy.internal:15000", "ISTIO_QUIT_API": "http://envoy.internal:15020"}),
])
def test_remote_quit_urls_that_are_never_posted_are_not_an_error(argv, env):
    config = load(argv, env)
    assert any(not url.host.startswith("127.") for url in config.quit_urls)
    assert config.disabled or config.quit_on == "never"


# -- no-proxy grace -----------------------------------------------------------------------
def test_no_proxy_grace_is_off_by_default_and_takes_seconds():
    assert load(["/app"], {}).no_proxy_grace == 0
    assert load(["--no-proxy-grace", "20", "/app"], {}).no_proxy_grace == 20.0
    assert load(["--no-proxy-grace=90", "--ready-timeout=0", "/app"], {}).no_proxy_grace == 90.0


def test_one_shot_modes_need_no_command():
    assert load(["--check-ready"], {}).check_ready
    assert load(["--quit-only"], {}).quit_only


@pytest.mark.parametrize("flag, action", [("--help", "help"), ("-h", "help"), ("--version", "version")])
def test_help_and_version_win(flag, action):
    assert load(["--ready-timeout", "1", flag, "--nope"], {}).action == action


def test_help_lists_every_flag_and_variable():
    text = help_text("9.9")
    for word in ["--ready-url", "SIDECAR_KILLER_READY_URL", "--quit-url", "SIDECAR_KILLER_QUIT_URL",
                 "--check-ready", "--quit-only", "SIDECAR_KILLER_DISABLED", "exit codes", "examples",
                 "--no-proxy-grace", "SIDECAR_KILLER_NO_PROXY_GRACE", "--allow-remote-quit",
                 "SIDECAR_KILLER_ALLOW_REMOTE_QUIT"]:
        assert word in text
    assert "73" not in text and "/tmp" not in text  # the binary extracts nothing any more


@pytest.mark.parametrize("value, seconds", [("5s", 5), ("1m30s", 90), ("2.5", 2.5), ("500ms", 0.5), ("0", 0)])
def test_durations_take_seconds_or_go_units(value, seconds):
    config = load(["--ready-timeout", value, "/app"], {"SIDECAR_KILLER_QUIT_TIMEOUT": value})
    assert config.ready_timeout == config.quit_timeout == seconds


@pytest.mark.parametrize("word", ["true", "TRUE", "1", "yes", "on", "false", "0", "no", "off"])
def test_one_set_of_boolean_words_everywhere(word):
    assert load(["/app"], {"SIDECAR_KILLER_DISABLED": word}).disabled is (word.lower() in ("true", "1", "yes", "on"))
    with pytest.raises(UsageError, match=r"use true or false \(1/0, yes/no and on/off work too\)"):
        load(["/app"], {"SIDECAR_KILLER_DISABLED": "maybe"})
    assert "true or false (1/0, yes/no and on/off work too)" in help_text("9.9")


def test_unknown_variables_name_the_nearest_known_one():
    from entrypoint.config import unknown_variables
    assert unknown_variables({"SIDECAR_KILLER_QUIT_URLS": "x", "SIDECAR_KILLER_MESH": "istio", "OTHER": "1"}) == \
        ["SIDECAR_KILLER_QUIT_URLS is not a sidecar-killer variable and is ignored; did you mean "
         "SIDECAR_KILLER_QUIT_URL?"]


def test_defaults_help_and_the_readme_table_agree():
    """Each option's default is declared once, in the option table: Config starts from it, --help
    shows it, and README's options table lists the flag with the same default."""
    from entrypoint.config import OPTIONS, Config
    from tests.helpers.process import REPO
    readme = (REPO / "README.md").read_text()
    import re
    cells = [re.split(r"(?<!\\)\|", line) for line in readme.splitlines() if line.startswith("| `--")]
    rows = {cell[1].strip().strip("`").split()[0]: cell for cell in cells}
    text = help_text("9.9")
    for option in OPTIONS:
        assert getattr(Config(), option.name) == option.initial
        assert option.flag in text and option.env in text
        assert option.flag in rows, f"{option.flag} missing from README's options table"
        default = rows[option.flag][2].strip()
        if isinstance(option.default, float):
            assert f"{option.default:g}" in default
            assert f"[default: {option.default:g}]" in text or (option.default == 0 and "0: off" in option.help)
        elif option.default and option.parse is not None and option.name not in ("ready_url", "quit_urls"):
            assert f"`{option.default}`" == default and f"[default: {option.default}]" in text
        elif option.parse is None:
            assert default in ("off", ""), (option.flag, default)


@pytest.mark.parametrize("url, host, port", [
    ("http://istio_proxy:15000/ready", "istio_proxy", 15000), ("HTTP://[::1]:4191/ready", "::1", 4191),
    ("http://localhost./ready", "localhost.", 80), ("http://127.0.0.1:15021/healthz/ready?x=1", "127.0.0.1", 15021),
])
def test_plausible_urls_are_accepted(url, host, port):
    config = load(["--ready-url", url, "/app"], {})
    assert (config.ready_url.host, config.ready_url.port) == (host, port)


# -- every value bounded: linear time, a short one-line message (adversarial inputs) -------------
BUDGET = 0.05  # seconds: each of these costs well under a millisecond; the old parser took hours


def usage_error(argv, env) -> str:
    started = time.perf_counter()
    with pytest.raises(UsageError) as error:
        load(argv, env)
    assert time.perf_counter() - started < BUDGET
    message = str(error.value)
    assert "\n" not in message and len(message) < 400, "a bad value is quoted cut, not whole"
    return message


PATHOLOGICAL_DURATIONS = [
    pytest.param("11m" * 40 + "x", "is too long for a duration", id="11m*40+x"),  # exponential regex backtracking
    pytest.param("11m" * 1000 + "x", "is too long for a duration", id="11m*1000+x"),
    pytest.param("1" * 63 + "x", "is not a number of seconds", id="63-digits+x"),  # quadratic before
    pytest.param("1" * 60000 + "x", "is too long for a duration", id="60000-digits+x"),
    pytest.param("9" * 5000, "is too long for a duration", id="5000-digits"),  # float() never sees it
]


@pytest.mark.parametrize("value, says", PATHOLOGICAL_DURATIONS)
@pytest.mark.parametrize("given", ["flag", "variable"])
def test_a_pathological_duration_is_refused_at_once(value, says, given):
    argv, env = (["--ready-timeout", value, "/app"], {}) if given == "flag" else \
        (["/app"], {"SIDECAR_KILLER_READY_TIMEOUT": value})
    message = usage_error(argv, env)
    assert message.startswith("--ready-timeout: '" if given == "flag" else "SIDECAR_KILLER_READY_TIMEOUT: '")
    assert says in message


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.name)
@pytest.mark.parametrize("given", ["flag", "variable"])
def test_a_megabyte_for_any_option_is_refused_at_once(option, given):
    value = "1" * 1_000_000
    argv, env = ([f"{option.flag}={value}", "/app"], {}) if given == "flag" else (["/app"], {option.env: value})
    message = usage_error(argv, env)
    assert f"'{'1' * 80}...' (1000000 characters) is longer than {option.max_length} characters" in message


def test_values_up_to_the_bounds_are_taken():
    url = "http://127.0.0.1:15020/" + "q" * (2048 - 23)
    status = '{"containers": ["istio-proxy"], "pad": "' + " " * 100_000 + '"}'  # an annotation may be long
    config = load(["--quit-url", url, "--istio-status", status, "--ready-timeout", "0" * 62 + "1h", "/app"], {})
    assert str(config.quit_urls[0]) == url and config.istio_status == status and config.ready_timeout == 3600
    assert "is longer than 2048 characters" in usage_error(["--quit-url", url + "q", "/app"], {})
    assert "is too long for a duration" in usage_error(["--ready-timeout", "0" * 63 + "1h", "/app"], {})


def test_more_than_32_quit_urls_are_refused():
    urls = ",".join(f"http://127.0.0.1:{port}/q" for port in range(1, 34))
    assert "names 33 URLs, more than 32" in usage_error(["/app"], {"SIDECAR_KILLER_QUIT_URL": urls})
    assert "--quit-url: more than 32 URLs" in usage_error(["--quit-url", urls.split(",", 1)[1], "--quit-url",
                                                           "http://127.0.0.1:1/q", "/app"], {})
    assert len(load(["--quit-url", urls.rsplit(",", 1)[0], "/app"], {}).quit_urls) == 32


def test_a_long_unknown_option_is_quoted_cut():
    message = usage_error(["--" + "a" * 60000, "/app"], {})
    assert message.startswith(f"unknown option '--{'a' * 78}...' (60002 characters)")
    assert "did you mean" not in message


@pytest.mark.parametrize("environ, count", [
    pytest.param({"SIDECAR_KILLER_" + "A" * 60000: "1"}, 1, id="60000-character-name"),
    pytest.param({f"SIDECAR_KILLER_READY_TIMEOU{i}": "1" for i in range(2000)}, 11, id="2000-near-names"),
    pytest.param({f"SIDECAR_KILLER_{'QUIT_TIMEOUX' * 5}{i}": "1" for i in range(2000)}, 11, id="2000-long-names"),
])
def test_unknown_variables_are_bounded(environ, count):
    started = time.perf_counter()
    warnings = unknown_variables(environ)
    assert time.perf_counter() - started < BUDGET
    assert len(warnings) == count and all(len(warning) < 200 for warning in warnings)
    if count > 1:
        assert warnings[-1] == "... and 1990 more SIDECAR_KILLER_* variables that name no option"


def test_a_long_unknown_variable_is_shown_cut_without_a_guess():
    (warning,) = unknown_variables({"SIDECAR_KILLER_" + "A" * 60000: "1"})
    assert warning == f"SIDECAR_KILLER_{'A' * 49}... (60015 characters) is not a sidecar-killer variable and " \
        "is ignored (see --help for the variables)"


def test_nearest_names_only_a_close_name():
    assert nearest("SIDECAR_KILLER_READYTIMEOUT", _ENV_NAMES) == "SIDECAR_KILLER_READY_TIMEOUT"
    assert nearest("SIDECAR_KILLER_DISABLE", _ENV_NAMES) == "SIDECAR_KILLER_DISABLED"
    assert nearest("SIDECAR_KILLER_LOG_LEVLE", _ENV_NAMES) == "SIDECAR_KILLER_LOG_LEVEL"  # a swap: two edits
    assert nearest("SIDECAR_KILLER_HTTP_PROXY", _ENV_NAMES) is None  # nothing is near: no wild guess
    assert nearest("SIDECAR_KILLER_" + "A" * 50, _ENV_NAMES) is None


@pytest.mark.parametrize("a, b", [("kitten", "sitting"), ("", "abc"), ("abc", ""), ("flaw", "lawn"),
                                  ("READY_TIMEOUT", "READYTIMOUT"), ("abcdef", "badcfe"), ("same", "same"),
                                  ("x" * 10, "y" * 10), ("ab", "ba")])
def test_the_bounded_edit_distance_is_levenshtein_up_to_its_limit(a, b):
    def levenshtein(a, b):
        row = list(range(len(b) + 1))
        for i, x in enumerate(a, 1):
            row, previous = [i] + [0] * len(b), row
            for j, y in enumerate(b, 1):
                row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y))
        return row[-1]
    for limit in range(0, 12):
        assert _edit_distance(a, b, limit) == min(levenshtein(a, b), limit + 1), limit


# -- 2. a duration that is not zero never becomes 0 (= no limit) ----------------------------------
@pytest.mark.parametrize("value", ["0", "0.0", "-0", "+0", "-0.0", "0e5", "0s", "-0s", "0h0m", ".0s", " 0 "])
def test_zero_in_any_spelling_is_zero(value):
    timeout = load(["--ready-timeout", value, "/app"], {}).ready_timeout
    assert timeout == 0 and math.copysign(1, timeout) == 1, "never -0.0 (logged as -0)"


@pytest.mark.parametrize("value", ["1e-400", "1e-10", "0.0000000001", "0.1ns", "0.0000000001s", "1E-999"])
def test_a_value_that_is_not_zero_but_under_a_nanosecond_is_too_small(value):
    for argv, env in ((["--ready-timeout", value, "/app"], {}), (["/app"], {"SIDECAR_KILLER_READY_TIMEOUT": value})):
        assert "is too small: not zero, but less than a nanosecond" in usage_error(argv, env)


def test_a_negative_tiny_value_is_out_of_range():
    assert "must be a number of seconds from 0 to 86400" in usage_error(["--quit-timeout", "-1e-400", "/app"], {})
    assert load(["--quit-timeout", "1e-9", "/app"], {}).quit_timeout == 1e-9


# -- 5. the authority ends at the first '/' or '?' -------------------------------------------------
@pytest.mark.parametrize("url, host, port, path", [
    ("http://127.0.0.1:15021?a/b", "127.0.0.1", 15021, "/?a/b"),
    ("http://localhost?x", "localhost", 80, "/?x"),
    ("http://h:1/p?q/r", "h", 1, "/p?q/r"),
    ("http://[::1]:2?a=/b", "::1", 2, "/?a=/b"),
    ("http://h", "h", 80, "/"),
])
def test_the_query_after_the_authority_is_kept_as_written(url, host, port, path):
    ready = load(["--ready-url", url, "/app"], {}).ready_url
    assert (ready.host, ready.port, ready.path) == (host, port, path)


def test_a_fragment_right_after_the_authority_is_refused():
    assert "has a fragment" in usage_error(["--ready-url", "http://127.0.0.1:15021#x", "/app"], {})


# -- 6. --quit-url splits on commas as the variable does -------------------------------------------
def test_the_quit_url_flag_is_comma_separated_like_the_variable():
    config = load(["--quit-url", "http://127.0.0.1:1/a,http://127.0.0.1:2/b", "--quit-url=http://127.0.0.1:3/c",
                   "/app"], {})
    assert [str(url) for url in config.quit_urls] == ["http://127.0.0.1:1/a", "http://127.0.0.1:2/b",
                                                      "http://127.0.0.1:3/c"]
    assert "repeatable or comma-separated" in help_text("9.9")
    assert "--quit-url: ' , ' names no URL" in usage_error(["--quit-url", " , ", "/app"], {})


# -- 7. a misspelled flag is named with the nearest one --------------------------------------------
@pytest.mark.parametrize("argv, guess", [
    (["--ready-timout", "5", "/app"], "--ready-timeout"),
    (["--quit-urls=http://127.0.0.1/q", "/app"], "--quit-url"),
    (["--disable", "/app"], "--disabled"),
    (["--hlep"], "--help"),
])
def test_a_misspelled_flag_is_named_with_the_nearest_one(argv, guess):
    assert f": did you mean {guess}? (see --help" in usage_error(argv, {})


def test_an_unknown_flag_far_from_any_gets_no_guess():
    assert usage_error(["--frobnicate", "/app"], {}) == \
        "unknown option '--frobnicate' (see --help; put the command after --)"


# -- 8. a switch takes =BOOL on its flag; choices take any case -----------------------------------
@pytest.mark.parametrize("arg, expected", [("--disabled", True), ("--disabled=true", True), ("--disabled=YES", True),
                                           ("--disabled=1", True), ("--disabled=false", False), ("--disabled=off", False),
                                           ("--disabled=", False)])
def test_a_switch_takes_a_boolean_after_an_equals_sign(arg, expected):
    assert load([arg, "/app"], {}).disabled is expected


def test_a_switch_set_false_on_the_flag_beats_its_variable():
    assert load(["--disabled=false", "/app"], {"SIDECAR_KILLER_DISABLED": "true"}).disabled is False
    assert "--no-wait: 'maybe' is not a boolean (use true or false" in usage_error(["--no-wait=maybe", "/app"], {})
    assert "--disabled takes no value, so 'true' would be run as the app: write --disabled alone, " \
        "--disabled=true or SIDECAR_KILLER_DISABLED=true" in usage_error(["--disabled", "true", "--", "/app"], {})


@pytest.mark.parametrize("argv, env, name, value", [
    (["/app"], {"SIDECAR_KILLER_LOG_FORMAT": "JSON"}, "log_format", "json"),
    (["--log-level", "Debug", "/app"], {}, "log_level", "debug"),
    (["--quit-on=NEVER", "/app"], {}, "quit_on", "never"),
    (["--on-ready-timeout", " Run ", "/app"], {}, "on_ready_timeout", "run"),
    (["--mesh", "Linkerd", "/app"], {}, "mesh", "linkerd"),
])
def test_choices_take_any_case_and_give_the_word_itself(argv, env, name, value):
    config = load(argv, env)
    assert getattr(config, name) == value
    if name == "mesh":
        assert str(config.ready_url) == "http://127.0.0.1:4191/ready"


# -- 9-14. the option table is the one declaration -------------------------------------------------
def test_an_option_takes_everything_after_its_help_by_keyword():
    with pytest.raises(TypeError):
        Option("x", "help", str, "", "X")
    option = Option("x", "help", parse=str, default="", metavar="X")
    assert (option.parse, option.default, option.metavar, option.max_length) == (str, "", "X", 65536)


def test_configs_slots_are_the_options_exactly():
    assert Config.__slots__[:2] == ("command", "action") and Config.__slots__[-1] == "origin"
    assert Config.__slots__[2:-1] == tuple(option.name for option in OPTIONS)
    config = Config()
    with pytest.raises(AttributeError):
        config.ready_timout = 5  # a typo is an error, not a new attribute
    assert config == Config() and config != Config(["/app"])
    assert repr(config).startswith("Config(command=[], action='run', ready_url=None, no_wait=False,")


def test_help_lists_every_exit_code_from_exitcodes():
    text = " ".join(help_text("9.9").split())
    for code, meaning in exitcodes.MEANINGS:
        assert f" {code} {meaning}" in text
    assert "71 could not start the app: no process or memory left" in text
    own = {value for name, value in vars(exitcodes).items() if name.isupper() and isinstance(value, int)}
    assert own - {code for code, _ in exitcodes.MEANINGS} == {exitcodes.SIGNAL_BASE}  # 128+N, said apart
    assert "128+N if signal N killed it" in text
    assert all(len(line) <= 80 for line in help_text("9.9").split("\n\n")[-2].splitlines())


def test_config_imports_without_backslash_continuations():
    source = (REPO / "entrypoint" / "config.py").read_text()
    imports = [line for line in source.splitlines() if line.startswith(("from ", "import "))]
    assert imports and not any(line.rstrip().endswith("\\") for line in imports)


@pytest.mark.parametrize("argv, env, expected", [
    ([], {}, "text"),
    (["--log-format", "json", "--nope"], {}, "json"),
    (["--log-format=JSON", "--ready-timeout", "soon"], {}, "json"),
    (["--ready-timeout", "--log-format", "--log-format", "json"], {}, "json"),  # the first is a value
    (["--log-format", "json", "--log-format", "text", "/app"], {}, "text"),  # the last flag wins
    (["--log-format", "yaml", "/app"], {}, "text"),
    (["/app"], {"SIDECAR_KILLER_LOG_FORMAT": "Json"}, "json"),
    (["--log-format", "text"], {"SIDECAR_KILLER_LOG_FORMAT": "json"}, "text"),  # the flag wins
    (["--", "--log-format", "json"], {}, "text"),  # the app's own flags
    (["/app", "--log-format", "json"], {}, "text"),
    (["--log-format"], {"SIDECAR_KILLER_LOG_FORMAT": "json"}, "json"),
    (["--log-format", "x" * 1_000_000], {}, "text"),
])
def test_the_requested_log_format_is_read_as_the_option_table_says(argv, env, expected):
    assert requested_log_format(argv, env) == expected


def test_load_spells_no_flag_or_variable_by_hand():
    """Messages name flags and variables through the option table (BY_NAME), never as literals."""
    import inspect
    source = inspect.getsource(load)
    for option in OPTIONS:
        assert option.env not in source and f'"{option.flag}' not in source and f" {option.flag}" not in source
    assert BY_NAME["allow_remote_quit"].env == "SIDECAR_KILLER_ALLOW_REMOTE_QUIT"


@pytest.mark.parametrize("url", ["http://[2001:db8::1]:15020/quitquitquit", "http://[::ffff:10.0.0.5]/q",
                                 "http://[fe80::1]/q", "http://128.0.0.1/q", "http://localhost.example/q"])
def test_a_quit_url_off_loopback_is_refused_whatever_its_form(url):
    """Not ::1, not 127.0.0.0/8, not localhost: another host's proxy, refused without --allow-remote-quit."""
    with pytest.raises(UsageError, match="is not on loopback"):
        load(["--quit-url", url, "--", "/app"], {})
    assert load(["--allow-remote-quit", "--quit-url", url, "--", "/app"], {}).quit_urls[0].text == url


@pytest.mark.parametrize("url", ["http://[::1]:15020/q", "http://127.3.4.5/q", "http://localhost/q", "http://LOCALHOST./q"])
def test_a_quit_url_on_loopback_is_taken(url):
    assert load(["--quit-url", url, "--", "/app"], {}).quit_urls[0].text == url
