"""Configuration: flags, environment variables, presets, precedence and one-line errors."""
import pytest

from entrypoint.config import UsageError, help_text, load


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
    (["--signal-group=yes", "/app"], {}, "--signal-group takes no value"),
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
