"""Usage errors, passthrough of arguments, environment and stdio, the modes (disabled,
--check-ready, --quit-only, --no-wait) and the peers' variables end to end. Runs
`python -m entrypoint` or SK_TEST_BIN."""
import json
import sys

import pytest

from tests.helpers.lifecycle import send_and_see, SH, free_port, urls
from tests.helpers.process import run, sigecho

pytestmark = pytest.mark.builds("python", "binary", "emulated")


# -- 7. usage errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("args, env, needle", [
    (["--bogus", "true"], {}, "unknown option '--bogus'"),
    (["--ready-timeout", "abc", "true"], {}, "--ready-timeout: 'abc'"),
    (["--quit-url", "ftp://x/q", "true"], {}, "--quit-url: 'ftp://x/q'"),
    ([], {}, "no command to run"),
    (["true"], {"SIDECAR_KILLER_QUIT_ON": "sometimes"}, "SIDECAR_KILLER_QUIT_ON: 'sometimes'"),
    (["--quit-url", "http://10.1.2.3:15020/quitquitquit", "true"], {},
     "quit URL 'http://10.1.2.3:15020/quitquitquit' is not on loopback"),
    (["true"], {"ISTIO_QUIT_API": "http://istio.example:15020"}, "add --allow-remote-quit"),
    (["--ready-url", "http://prøxy:15021/healthz/ready", "true"], {}, "--ready-url: 'http://prøxy:15021/healthz/ready' is not ASCII"),
    (["true"], {"SIDECAR_KILLER_QUIT_URL": "http://ß.example/q"}, "is not ASCII"),
])
def test_usage_errors_are_one_line_and_64(args, env, needle):
    w = run(args, extra_env=env)
    assert w.returncode == 64
    assert len(w.stderr_lines) == 1 and needle in w.stderr
    assert w.stdout == ""


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_exit_0_on_stdout(flag):
    w = run([flag])
    assert w.returncode == 0
    assert w.stdout.startswith("sidecar-killer ")
    assert w.stderr == ""


# -- 8. passthrough and stdout purity -------------------------------------------------------------
def test_arguments_environment_cwd_and_stdin_pass_through(sidecar, tmp_path):
    fake = sidecar()
    args = ["plain", "with space", "", "ünïcode", "--ready-timeout", "-x", "--"]
    script = ("import json, os, sys; print(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd(), "
              "'env': os.environ.get('APP_SETTING'), 'stdin': sys.stdin.read()}))")
    feed = tmp_path / "stdin.txt"
    feed.write_text("fed through\n")
    with open(feed) as stdin:
        w = run(urls(fake, "--log-level", "debug", "--", sys.executable, "-c", script, *args),
                extra_env={"APP_SETTING": "kept"}, cwd=tmp_path, stdin=stdin)
    assert w.returncode == 0
    seen = json.loads(w.stdout)
    assert seen == {"argv": args, "cwd": str(tmp_path), "env": "kept", "stdin": "fed through\n"}


def test_stdout_belongs_to_the_app(sidecar):
    fake = sidecar(ready_after=0.3)
    w = run(urls(fake, "--log-level", "debug", "--", SH, "-c", "printf 'exactly this'"))
    assert w.returncode == 0
    assert w.stdout == "exactly this"
    assert "sidecar-killer" in w.stderr


def test_json_logs_are_one_object_per_line(sidecar):
    fake = sidecar()
    w = run(urls(fake, "--log-format", "json", "--", "true"))
    records = [json.loads(line) for line in w.stderr_lines]
    events = [r["event"] for r in records]
    assert events == ["waiting", "proxy_ready", "app_started", "app_exited", "proxy_quit"]
    assert records[3]["exit_code"] == 0


def test_quiet_logs_nothing_on_success(sidecar):
    fake = sidecar()
    w = run(urls(fake, "--log-level", "quiet", "--", "true"))
    assert w.returncode == 0 and w.stderr == ""


# -- modes ---------------------------------------------------------------------------------------------
def test_disabled_mode_neither_waits_nor_quits_but_supervises(sidecar, wrappers):
    fake = sidecar(ready_after=3600)
    w = wrappers(urls(fake, "--", *sigecho("--exit-on", "SIGTERM")), extra_env={"SIDECAR_KILLER_DISABLED": "yes"})
    w.app_pid()
    send_and_see(w, "SIGTERM")
    assert w.wait() == 0
    assert fake.requests == []


@pytest.mark.parametrize("ready_after, expected", [(0, 0), (3600, 1)])
def test_check_ready(sidecar, ready_after, expected):
    fake = sidecar(ready_after=ready_after)
    w = run(["--check-ready", "--ready-url", fake.ready_url])
    assert w.returncode == expected
    assert len(fake.requests) == 1 and fake.quits == []


def test_check_ready_with_nothing_listening():
    w = run(["--check-ready", "--ready-url", f"http://127.0.0.1:{free_port()}/healthz/ready"])
    assert w.returncode == 1
    assert "connection refused" in w.stderr


def test_quit_only(sidecar):
    fake = sidecar()
    w = run(["--quit-only", "--quit-url", fake.quit_url])
    assert w.returncode == 0
    assert len(fake.quits) == 1 and fake.requests_for("ready") == []


def test_quit_only_failure_is_1():
    w = run(["--quit-only", "--quit-timeout", "0.3", "--quit-url", f"http://127.0.0.1:{free_port()}/q"])
    assert w.returncode == 1


# -- migration: scuttle and linkerd-await variables, end to end ----------------------------------------
def test_scuttle_variables_drive_a_real_run(sidecar):
    fake = sidecar(mesh="linkerd")  # serves GET /ready, as Envoy's admin port does
    base = fake.ready_url.rsplit("/", 1)[0]
    quitter = sidecar()
    env = {"ENVOY_ADMIN_API": base, "ISTIO_QUIT_API": quitter.quit_url.rsplit("/", 1)[0],
           "NEVER_KILL_ISTIO_ON_FAILURE": "true", "ISTIO_FALLBACK_PKILL": "true"}
    ok = run(["--", "true"], extra_env=env)
    assert ok.returncode == 0
    assert fake.requests_for("ready", 200) and len(quitter.quits) == 1
    assert "ISTIO_FALLBACK_PKILL=true is not supported" in ok.stderr
    failed = run(["--", SH, "-c", "exit 2"], extra_env=env)
    assert failed.returncode == 2 and len(quitter.quits) == 1  # kept on failure


def test_no_wait_starts_at_once_and_still_quits(sidecar):
    fake = sidecar(ready_after=3600)
    w = run(urls(fake, "--no-wait", "--", "true"))
    assert w.returncode == 0
    assert fake.requests_for("ready") == [] and len(fake.quits) == 1


def test_linkerd_await_disabled(sidecar):
    fake = sidecar(ready_after=3600)
    w = run(urls(fake, "--", SH, "-c", "exit 4"), extra_env={"LINKERD_AWAIT_DISABLED": "1"})
    assert w.returncode == 4 and fake.requests == []


def test_the_testers_own_variables_do_not_reach_the_wrapper(sidecar, monkeypatch):
    """A developer's shell may set our variables or scuttle's; the process tests start clean."""
    monkeypatch.setenv("SIDECAR_KILLER_QUIT_ON", "never")
    monkeypatch.setenv("NEVER_KILL_ISTIO", "true")
    fake = sidecar()
    w = run(["--ready-url", fake.ready_url, "--quit-url", fake.quit_url, "--", "true"])
    assert w.returncode == 0 and len(fake.quits) == 1, w.stderr
