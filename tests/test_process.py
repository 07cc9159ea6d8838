"""The real command against a fake Istio sidecar: every promise of the lifecycle.

Runs `python -m entrypoint`, or the executable named by SK_TEST_BIN (the frozen binary).
Sidecars listen on free ports; tests of the built-in default ports run in a private network
namespace.
"""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

import pytest

from tests.helpers.process import REPO, Wrapper, children_of, run, sigecho, slow, wait_until, wrapper_command

SH = shutil.which("sh")


def urls(fake, *extra):
    return ["--ready-url", fake.ready_url, "--quit-url", fake.quit_url, *extra]


def quit_after_exit(fake, wrapper_exit_time):
    """Exactly one quit, and it came after the app had exited."""
    assert len(fake.quits) == 1, fake.requests
    assert fake.quits[0].at <= wrapper_exit_time


# -- 1. readiness -----------------------------------------------------------------------
def test_app_starts_only_once_the_proxy_is_ready_and_quit_follows(sidecar, tmp_path):
    fake = sidecar(ready_after=slow(0.6))
    marker = tmp_path / "started"
    w = run(urls(fake, "--", SH, "-c", f'echo app; date +%s.%N > {marker}; exit 0'))
    assert w.returncode == 0
    assert w.stdout == "app"
    ready_since = fake._started + slow(0.6)
    assert fake.requests_for("ready", 503), "the proxy was polled while not ready"
    assert fake.requests_for("ready", 200)
    assert not [r for r in fake.requests_for("ready", 200) if r.at < ready_since]
    assert len(fake.quits) == 1 and fake.quits[0].status == 200
    assert "proxy ready after" in w.stderr and "proxy quit" in w.stderr


def test_waits_for_a_proxy_that_is_not_listening_yet(sidecar):
    fake = sidecar(ready_port=_free_port(), listen_after=0.4, ready_after=0.6)
    w = run(urls(fake, "--", "true"))
    assert w.returncode == 0
    assert len(fake.quits) == 1


def test_polling_is_prompt_and_never_floods_the_sidecar_log(sidecar, wrappers):
    """At most 10 non-200 answers a second; the app starts soon after the proxy turns ready."""
    fake = sidecar(ready_after=1.5)
    w = wrappers(urls(fake, "--", *sigecho("--lifetime", "0")))
    assert w.wait() == 0
    not_ready = fake.requests_for("ready", 503)
    first, last = not_ready[0].at, not_ready[-1].at
    # Timestamps are taken by the server's threads, so allow a few ms of jitter per request;
    # the exact schedule is checked with a fake clock in test_units.
    assert len(not_ready) <= (last - first + 0.05) * 10 + 1
    gaps = [b.at - a.at for a, b in zip(not_ready, not_ready[1:])]
    assert min(gaps) >= 0.05, "probes after a non-200 answer must not come every 20 ms"
    ready_at = fake.requests_for("ready", 200)[0].at
    # Within about one 100 ms polling interval (headroom for a loaded machine; medians: make bench).
    assert ready_at - (fake._started + 1.5) < 0.35


@pytest.mark.parametrize("mode, expected", [("fail", 69), ("run", 5)])
def test_readiness_timeout(sidecar, tmp_path, mode, expected):
    fake = sidecar(ready_after=3600)
    marker = tmp_path / "ran"
    w = run(urls(fake, "--ready-timeout", "0.5", "--on-ready-timeout", mode, "--",
                 SH, "-c", f"touch {marker}; exit 5"))
    assert w.returncode == expected
    assert marker.exists() is (mode == "run")
    assert len(fake.quits) == 1  # the pod can finish either way
    # No probe starts at the deadline and each gets its whole budget, so the last answer is the
    # proxy's own; the wait ends at 0.5 s, later only by a probe in flight when loaded.
    assert re.search(r"proxy not ready after 0\.[5-9]s \(last answer: HTTP 503\)", w.stderr), w.stderr


def test_no_sidecar_at_all_is_said_plainly_and_the_quit_is_not_retried(tmp_path):
    dead = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    w = run(["--ready-url", dead + "/healthz/ready", "--quit-url", dead + "/quitquitquit",
             "--ready-timeout", "0.3", "--quit-timeout", "20", "--on-ready-timeout", "run", "--", "true"])
    elapsed = time.monotonic() - started
    assert w.returncode == 0
    assert "every connection refused): is the sidecar injected" in w.stderr
    assert "after 1 attempt(s)" in w.stderr
    assert elapsed < 5, "a quit that cannot land must not use the whole --quit-timeout"


# -- meshed or not: --no-proxy-grace ---------------------------------------------------------
def test_no_proxy_at_all_runs_the_app_after_the_grace_and_quits_nothing():
    ready, quit_port = _free_port(), _free_port()
    started = time.monotonic()
    w = run(["--ready-url", f"http://127.0.0.1:{ready}/healthz/ready",
             "--quit-url", f"http://127.0.0.1:{quit_port}/quitquitquit", "--no-proxy-grace", "0.4",
             "--quit-timeout", "20", "--", SH, "-c", "echo ran; exit 7"])
    elapsed = time.monotonic() - started
    assert w.returncode == 7 and w.stdout == "ran"
    assert f"no proxy in this pod: nothing listened at 127.0.0.1:{ready}, 127.0.0.1:{quit_port} for 0.4s" \
        in w.stderr, w.stderr
    assert "quit" not in w.stderr.replace("quitting", "").replace("/quitquitquit", ""), "no quit attempted"
    assert elapsed < 0.4 + slow(1.5), "promptly after the grace"


def test_a_proxy_that_starts_late_within_the_grace_is_waited_for_and_quit(sidecar, tmp_path):
    """The kubelet started the proxy's container after the app's (e.g. pulling its image)."""
    fake = sidecar(ready_port=_free_port(), quit_port=_free_port(), start_after=0.6, ready_after=0.3)
    marker = tmp_path / "started"
    w = run(urls(fake, "--no-proxy-grace", "2", "--", sys.executable, "-c",
                 f"import time; open({str(marker)!r}, 'w').write(repr(time.monotonic()))"))
    assert w.returncode == 0
    assert float(marker.read_text()) >= fake.requests_for("ready", 200)[0].at, "the app waited for the proxy"
    assert len(fake.quits) == 1 and fake.quits[0].at >= float(marker.read_text())
    assert "no proxy" not in w.stderr


def test_an_agent_listening_before_envoy_means_a_proxy_is_there(sidecar):
    """pilot-agent's 15020 listens from the start; Envoy's 15021 only once configured."""
    fake = sidecar(ready_port=_free_port(), listen_after=0.8, ready_after=1.0)
    w = run(urls(fake, "--no-proxy-grace", "0.3", "--", SH, "-c", "exit 4"))
    assert w.returncode == 4
    assert fake.requests_for("ready", 200) and len(fake.quits) == 1
    assert "no proxy" not in w.stderr


# -- 2. starting the app ------------------------------------------------------------------
def test_command_not_found_is_127_and_the_proxy_is_still_quit(sidecar):
    fake = sidecar()
    w = run(urls(fake, "--", "no-such-command-xyz", "arg"))
    assert w.returncode == 127
    assert "cannot run 'no-such-command-xyz': not found in PATH=" in w.stderr
    assert len(fake.quits) == 1


@pytest.mark.parametrize("kind", ["no-exec-bit", "directory", "not-a-program"])
def test_command_not_executable_is_126(sidecar, tmp_path, kind):
    fake = sidecar()
    target = tmp_path / "thing"
    if kind == "directory":
        target.mkdir()
    else:
        target.write_bytes(b"\x00\x01garbage" if kind == "not-a-program" else b"#!/bin/sh\nexit 0\n")
        target.chmod(0o755 if kind == "not-a-program" else 0o644)
    w = run(urls(fake, "--", str(target)))
    assert w.returncode == 126
    assert f"cannot run '{target}':" in w.stderr
    assert len(fake.quits) == 1


# -- 3. signals reach the app ----------------------------------------------------------------
FORWARDED = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGALRM", "SIGWINCH",
             "SIGCONT", "SIGPIPE", "SIGURG", "SIGABRT", "SIGPWR", "SIGVTALRM", "SIGPROF", "SIGXCPU",
             "SIGTRAP", "SIGSYS"]


def started_sigecho(wrappers, fake, *extra, exit_on="SIGKILL"):
    w = wrappers(urls(fake, *extra, "--", *sigecho("--exit-on", exit_on)))
    return w, w.app_pid()


def send_and_see(w, name, timeout=5):
    """Send signal ``name`` to the wrapper; return the delay until the app printed it."""
    before = len([line for line in w.stdout_lines if line.startswith(name + " ")])
    sent = time.monotonic()
    os.kill(w.pid, getattr(signal, name))
    line = wait_until(lambda: [x for x in list(w.stdout_lines) if x.startswith(name + " ")][before:],
                      timeout, what=f"{name} at the app")[0]
    return float(line.split()[1]) - sent


@pytest.mark.parametrize("name", FORWARDED)
def test_each_signal_reaches_the_app_exactly_once(sidecar, wrappers, name):
    fake = sidecar()
    w, app = started_sigecho(wrappers, fake)
    delay = send_and_see(w, name)
    assert delay < 0.25
    time.sleep(0.2)
    assert [line.split()[0] for line in w.stdout_lines[1:]] == [name], "once, and nothing else"
    os.kill(app, signal.SIGKILL)
    assert w.wait() == 128 + signal.SIGKILL


def test_realtime_signals_are_forwarded(sidecar, wrappers):
    fake = sidecar()
    w, app = started_sigecho(wrappers, fake)
    for signum in (signal.SIGRTMIN, signal.SIGRTMIN + 1, signal.SIGRTMIN + 5, signal.SIGRTMAX):
        os.kill(w.pid, signum)
        wait_until(lambda: any(line.endswith(f" {signum}") for line in list(w.stdout_lines)[1:]),
                   what=f"signal {signum} at the app")
    os.kill(app, signal.SIGKILL)
    assert w.wait() == 137


def test_signals_are_forwarded_within_milliseconds(sidecar, wrappers):
    fake = sidecar()
    w, app = started_sigecho(wrappers, fake)
    delays = [send_and_see(w, "SIGUSR1") for _ in range(15)]
    # The promise is 10 ms; noisy CI machines get headroom, a missed wake-up (1 s poll) does not.
    assert statistics.median(delays) < 0.05, delays
    os.kill(app, signal.SIGKILL)
    w.wait()


def test_sigterm_ends_the_app_and_its_code_becomes_the_exit_code(sidecar, wrappers):
    fake = sidecar()
    w = wrappers(urls(fake, "--", "sleep", "30"))
    wait_until(lambda: children_of(w.pid) or None, what="the app")
    wait_until(lambda: "app started" in w.stderr, what="app started")
    os.kill(w.pid, signal.SIGTERM)
    assert w.wait() == 128 + signal.SIGTERM
    assert len(fake.quits) == 1


@pytest.mark.parametrize("name", ["SIGSEGV", "SIGKILL", "SIGTERM", "SIGABRT", "SIGUSR1"])
def test_app_killed_by_signal_gives_128_plus_n(sidecar, name):
    fake = sidecar()
    w = run(urls(fake, "--", SH, "-c", f"kill -{name[3:]} $$"))
    assert w.returncode == 128 + getattr(signal, name)
    assert f"app killed by {name}" in w.stderr
    assert len(fake.quits) == 1


def test_app_starts_with_clean_signal_mask_and_dispositions(sidecar, wrappers):
    """Even when the wrapper itself was started with signals blocked and ignored."""
    fake = sidecar()

    def hostile_parent():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGINT})
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    w = wrappers(urls(fake, "--", "cat", "/proc/self/status"), preexec_fn=hostile_parent)
    assert w.wait() == 0
    fields = dict(line.split(":\t", 1) for line in w.stdout_lines if ":\t" in line)
    # glibc's posix_spawn leaves its two internal signals (32, 33) ignored; programs reset them.
    glibc_internal = (1 << 31) | (1 << 32)
    assert int(fields["SigBlk"], 16) == 0
    assert int(fields["SigIgn"], 16) & ~glibc_internal == 0


def test_the_wrapper_survives_every_signal_after_the_app_exits(sidecar, wrappers):
    """Signals arriving while quitting are not fatal to the wrapper: it still exits with the code."""
    fake = sidecar(quit_mode="hang")
    w = wrappers(urls(fake, "--quit-timeout", "1", "--", SH, "-c", "exit 7"))
    wait_until(lambda: fake.requests_for("quit"), what="the quit request")
    for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGPIPE", "SIGALRM"):
        os.kill(w.pid, getattr(signal, name))
    assert w.wait() == 7


def test_signal_group_reaches_the_apps_children(sidecar, wrappers, tmp_path):
    fake = sidecar()
    # The shell leads the group too: it survives USR1 with a trap, then waits for both apps.
    script = f"trap : USR1; {' '.join(sigecho('--exit-on', 'SIGUSR1'))} & " \
             f"{' '.join(sigecho('--exit-on', 'SIGUSR1'))}; wait; wait"
    w = wrappers(urls(fake, "--signal-group", "--", SH, "-c", script))
    wait_until(lambda: len([x for x in w.stdout_lines if x.startswith("ready ")]) == 2, what="two apps")
    os.kill(w.pid, signal.SIGUSR1)
    assert w.wait() == 0
    assert len([x for x in w.stdout_lines if x.startswith("SIGUSR1 ")]) == 2


def test_without_signal_group_only_the_app_gets_the_signal(sidecar, wrappers):
    fake = sidecar()
    script = f"{' '.join(sigecho('--exit-on', 'SIGUSR1', '--lifetime', '1'))} & exec " \
             f"{' '.join(sigecho('--exit-on', 'SIGUSR1'))}"
    w = wrappers(urls(fake, "--", SH, "-c", script))
    wait_until(lambda: len([x for x in w.stdout_lines if x.startswith("ready ")]) == 2, what="two apps")
    os.kill(w.pid, signal.SIGUSR1)
    assert w.wait() == 0
    assert len([x for x in w.stdout_lines if x.startswith("SIGUSR1 ")]) == 1


# -- 4. zombies and orphans -------------------------------------------------------------------
def test_an_orphans_status_is_never_taken_for_the_apps(sidecar):
    fake = sidecar()
    w = run(urls(fake, "--", SH, "-c", "( (sleep 0.1; exit 99) & ); sleep 0.5; exit 4"))
    assert w.returncode == 4


def test_orphans_are_reaped_while_the_app_runs(sidecar, wrappers):
    fake = sidecar()
    w = wrappers(urls(fake, "--", SH, "-c", "( (sleep 0.2; exit 9) & ); ( (exit 8) & ); sleep 3"))
    wait_until(lambda: "app started" in w.stderr, what="app started")
    time.sleep(1.0)
    # The double-forked processes were re-parented to the wrapper (subreaper) and reaped.
    states = [state for _pid, state in children_of(wrapper_python_pid(w))]
    assert "Z" not in states, states
    assert w.wait() == 0


def wrapper_python_pid(w):
    """The supervising process: the parent of the app (the frozen chain has layers above it)."""
    line = w.wait_for_line(lambda x: "app started" in x, stream="stderr")
    app = int(line.rsplit("(pid ", 1)[1].rstrip(")"))
    with open(f"/proc/{app}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


# -- 5. exit codes and quitting -----------------------------------------------------------------
def test_every_exit_code_is_kept():
    bad = {}
    for code in range(256):
        result = subprocess.run(wrapper_command() + ["--", SH, "-c", f"exit {code}"],
                                env={**os.environ, "SIDECAR_KILLER_DISABLED": "true", "PYTHONPATH": str(REPO)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        if result.returncode != code:
            bad[code] = result.returncode
    assert bad == {}


@pytest.mark.parametrize("code", [0, 1, 3, 255])
def test_exit_code_with_the_sidecar(sidecar, code):
    fake = sidecar()
    w = run(urls(fake, "--", SH, "-c", f"exit {code}"))
    assert w.returncode == code
    quit_after_exit(fake, time.monotonic())
    assert f"app exited with code {code}" in w.stderr


def test_quit_comes_after_the_app_has_exited(sidecar, tmp_path):
    fake = sidecar()
    marker = tmp_path / "exited"
    run(urls(fake, "--", sys.executable, "-c",
             f"import time; time.sleep(0.3); open({str(marker)!r}, 'w').write(repr(time.monotonic()))"))
    assert len(fake.quits) == 1
    assert fake.quits[0].at > float(marker.read_text())


@pytest.mark.parametrize("mode", ["refuse", "status:500", "hang"])
def test_quit_failures_never_change_the_code_nor_hold_past_the_timeout(sidecar, mode):
    fake = sidecar(quit_mode=mode)
    quit_url = fake.quit_url if mode != "refuse" else f"http://127.0.0.1:{_free_port()}/quitquitquit"
    started = time.monotonic()
    w = run(["--ready-url", fake.ready_url, "--quit-url", quit_url, "--quit-timeout", "1.5",
             "--", SH, "-c", "exit 3"])
    elapsed = time.monotonic() - started
    assert w.returncode == 3
    assert "could not quit the proxy" in w.stderr and "exit code is unchanged" in w.stderr
    assert elapsed < 1.5 + slow(1.5), "held past --quit-timeout"
    attempts = int(re.search(r"after (\d+) attempt", w.stderr).group(1))
    if mode == "hang":
        assert attempts == 1, "a request that may have landed is not sent again"
    else:
        assert elapsed > 1.0, "refused and 5xx are retried until the timeout"
        assert attempts >= 2
        assert len(fake.requests_for("quit")) == (attempts if mode == "status:500" else 0)


def test_envoys_routed_quit_that_closes_without_answer_is_judged_by_its_effect(sidecar):
    """Envoy exits before relaying the 200: the connection closes, then its ports refuse."""
    fake = sidecar(quit_mode="close", quit_exit=0.05)
    w = run(urls(fake, "--quit-timeout", "5", "--", SH, "-c", "exit 3"))
    assert w.returncode == 3
    assert len(fake.quits) == 1
    assert re.search(r"proxy quit: the proxy is gone \(127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+ refuse connections "
                     r"now\), though POST \S+ got connection closed without an answer", w.stderr), w.stderr
    assert "warning" not in w.stderr


@pytest.mark.parametrize("quit_mode", ["close", "status:503"])
def test_quit_only_lands_when_the_proxy_goes_away(sidecar, quit_mode):
    """--quit-only (a preStop hook) exits 0: a routed Envoy, or an agent that exits during the retries."""
    fake = sidecar(quit_mode=quit_mode, quit_exit=0.05 if quit_mode == "close" else 0.2)
    w = run(["--quit-only", "--ready-url", fake.ready_url, "--quit-url", fake.quit_url])
    assert w.returncode == 0, w.stderr
    assert "the proxy is gone" in w.stderr


def test_quit_only_fails_when_the_connection_closes_but_the_proxy_stays(sidecar):
    fake = sidecar(quit_mode="close")
    started = time.monotonic()
    w = run(["--quit-only", "--quit-timeout", "0.5", "--ready-url", fake.ready_url, "--quit-url", fake.quit_url])
    assert w.returncode == 1
    assert "could not quit the proxy" in w.stderr and "connection closed without an answer" in w.stderr
    assert time.monotonic() - started < 0.5 + slow(1.5)
    assert len(fake.quits) == 1


def test_every_quit_url_is_posted(sidecar):
    first, second = sidecar(), sidecar()
    w = run(["--ready-url", first.ready_url, "--quit-url", first.quit_url,
             "--quit-url", second.quit_url, "--", "true"])
    assert w.returncode == 0
    assert len(first.quits) == 1 and len(second.quits) == 1


@pytest.mark.parametrize("quit_on, code, quits", [("success", 0, 1), ("success", 2, 0), ("never", 0, 0),
                                                  ("always", 2, 1)])
def test_quit_on(sidecar, quit_on, code, quits):
    fake = sidecar()
    w = run(urls(fake, "--quit-on", quit_on, "--", SH, "-c", f"exit {code}"))
    assert w.returncode == code
    assert len(fake.quits) == quits


# -- 6. signals while waiting -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"])
def test_stop_signal_while_waiting_does_not_start_the_app(sidecar, wrappers, tmp_path, name):
    fake = sidecar(ready_after=3600)
    marker = tmp_path / "ran"
    w = wrappers(urls(fake, "--", SH, "-c", f"touch {marker}"))
    wait_until(lambda: fake.requests_for("ready", 503), what="a readiness probe")
    os.kill(w.pid, getattr(signal, name))
    assert w.wait(10) == 128 + getattr(signal, name)
    assert not marker.exists()
    assert len(fake.quits) == 1


def test_other_signals_while_waiting_are_not_fatal(sidecar, wrappers):
    fake = sidecar(ready_after=slow(0.8))
    w = wrappers(urls(fake, "--", SH, "-c", "exit 6"))
    wait_until(lambda: fake.requests_for("ready", 503), what="a readiness probe")
    for name in ("SIGUSR1", "SIGUSR2", "SIGALRM", "SIGPIPE", "SIGWINCH"):
        os.kill(w.pid, getattr(signal, name))
    assert w.wait(10) == 6


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
    w = run(["--check-ready", "--ready-url", f"http://127.0.0.1:{_free_port()}/healthz/ready"])
    assert w.returncode == 1
    assert "connection refused" in w.stderr


def test_quit_only(sidecar):
    fake = sidecar()
    w = run(["--quit-only", "--quit-url", fake.quit_url])
    assert w.returncode == 0
    assert len(fake.quits) == 1 and fake.requests_for("ready") == []


def test_quit_only_failure_is_1():
    w = run(["--quit-only", "--quit-timeout", "0.3", "--quit-url", f"http://127.0.0.1:{_free_port()}/q"])
    assert w.returncode == 1


# -- built-in defaults, on the real ports, in a private network namespace ---------------------------
NETNS = shutil.which("unshare") and os.geteuid() == 0


def in_netns(sidecar_args, wrapper_args, env=None):
    """Run the fake sidecar and the wrapper inside `unshare -n` with loopback up."""
    fake = [sys.executable, str(REPO / "tests/helpers/fake_sidecar.py"), *sidecar_args]
    wrapper = wrapper_command() + wrapper_args
    script = ("ip link set lo up && { " + " ".join(map(_quote, fake)) + " > \"$SIDECAR_LOG\" & } && "
              + " ".join(map(_quote, wrapper)) + "; code=$?; wait; exit $code")
    return script


def _quote(word):
    return "'" + word.replace("'", "'\\''") + "'"


@pytest.mark.skipif(not NETNS and not os.environ.get("CI"), reason="needs root for unshare -n")
@pytest.mark.parametrize("mesh, sidecar_args", [
    ("istio", ["--ready-after", "0.3"]),
    ("linkerd", ["--mesh", "linkerd", "--ready-port", "4191", "--ready-after", "0.3"]),
])
def test_default_urls_on_the_real_ports(tmp_path, mesh, sidecar_args):
    log = tmp_path / "sidecar.jsonl"
    script = in_netns(sidecar_args, ["--mesh", mesh, "--", SH, "-c", "exit 3"])
    result = subprocess.run(["unshare", "-n", SH, "-c", script], capture_output=True, timeout=60,
                            env={**os.environ, "SIDECAR_LOG": str(log), "PYTHONPATH": str(REPO)})
    assert result.returncode == 3, result.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    ready_path = "/ready" if mesh == "linkerd" else "/healthz/ready"
    quit_path = "/shutdown" if mesh == "linkerd" else "/quitquitquit"
    assert any(e.get("path") == ready_path and e.get("status") == 200 for e in events)
    assert [e for e in events if e.get("path") == quit_path] == \
        [{**[e for e in events if e.get("path") == quit_path][0], "method": "POST", "status": 200}]
    assert events[-1]["event"] == "exited"


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def test_job_control_signals_stop_and_resume_the_whole_job(sidecar, wrappers):
    """TSTP reaches the app and then stops the wrapper too, as a shell's job stops; CONT resumes
    the wrapper and reaches the app."""
    fake = sidecar()
    # Its own process group, as a shell's job: the kernel discards TSTP sent to a member of an
    # orphaned process group, which the test's own group may be (e.g. under a detached CI runner).
    w = wrappers(urls(fake, "--", *sigecho("--exit-on", "SIGKILL")), process_group=0)
    app = w.app_pid()
    supervisor = wrapper_python_pid(w)

    def state(pid):
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    os.kill(supervisor, signal.SIGTSTP)
    wait_until(lambda: state(supervisor) == "T", what="the wrapper stopped by TSTP")
    w.wait_for_line(lambda line: line.startswith("SIGTSTP "))
    os.kill(supervisor, signal.SIGCONT)
    wait_until(lambda: state(supervisor) != "T", what="the wrapper resumed by CONT")
    w.wait_for_line(lambda line: line.startswith("SIGCONT "))
    os.kill(app, signal.SIGKILL)
    assert w.wait() == 137
