"""The app starts (or its command fails as a shell would), its exit code is kept, the proxy
is quit after it. Runs `python -m entrypoint` or SK_TEST_BIN."""
import os
import re
import subprocess
import sys
import time

import pytest

from tests.helpers.lifecycle import SH, free_port, quit_after_exit, urls
from tests.helpers.process import REPO, run, slow, wrapper_command

pytestmark = pytest.mark.builds("python", "binary", "emulated")


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
    quit_url = fake.quit_url if mode != "refuse" else f"http://127.0.0.1:{free_port()}/quitquitquit"
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
    elif mode == "refuse":
        assert attempts == 1, "nothing ever listened there: tried once, not for the whole timeout"
        assert elapsed < slow(0.5) + 0.5
    else:
        assert elapsed > 1.0, "a 5xx is retried until the timeout"
        assert attempts >= 2 and len(fake.requests_for("quit")) == attempts


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
