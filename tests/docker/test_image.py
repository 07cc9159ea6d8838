"""The FROM scratch image (Dockerfile.scratch, unmodified) in a two-container pod.

A fake istio-proxy container answers exactly as Istio does (tests/helpers/fake_sidecar.py);
the app container shares its network namespace, as in a Kubernetes pod. Apps: the product
image's example /app (`/app` exits $APP_EXIT; `/app wait` prints each signal it gets and exits
$APP_EXIT on TERM or INT) and the test-only /testapp (tests/docker/apps/testapp.c).
"""
import signal
import time

import pytest

from tests.helpers.pod import (ProcessView, build_small_image, exit_code, health_of, status_of,
                               stderr_of, stdout_of, wait_for_output)
from tests.helpers.process import wait_until

pytestmark = pytest.mark.docker

APP_EXIT = 7  # what `/app wait` exits with when TERM or INT ends it, in these tests


def value_of(container, prefix: str) -> float:
    """The number after ``prefix`` on the app's stdout, e.g. "exiting 1234.5"."""
    line = wait_for_output(container, lambda line: line.startswith(prefix + " "), what=prefix)[0]
    return float(line.split()[1])


def assert_one_quit_after(p, app_exited: float | None = None):
    """The pod completed: exactly one quit (POST, 200), after the app exited; the sidecar exited 0."""
    assert p.sidecar_code() == 0, p.explain()
    quits = p.quits()
    assert [(q["method"], q["status"]) for q in quits] == [("POST", 200)], p.explain()
    if app_exited is not None:
        assert quits[0]["mono"] > app_exited, "the quit came before the app had exited"


def wait_for_app(p):
    """Until the app itself has started (its first line)."""
    wait_for_output(p.app, lambda line: line.startswith("app: hello"), what="the app's hello")


# -- readiness, quitting, exit codes ----------------------------------------------------------------
def test_app_starts_only_after_the_sidecar_is_ready(pod):
    """The app starts only after the sidecar's first 200, which comes 2 s after its 503s began."""
    # 2 s: room for the app container and the wrapper to start and probe while it is still 503.
    p = pod(["/testapp", "exit", "0"], sidecar_args=["--ready-after", "2"])
    assert p.app_code() == 0, p.explain()
    assert_one_quit_after(p)
    assert p.ready_answers(503), "the sidecar was polled while it was not ready yet"
    first_ready = p.ready_answers(200)[0]
    assert first_ready["t"] >= 2.0
    assert value_of(p.app, "started") > first_ready["mono"]


@pytest.mark.parametrize("code", [0, 3, 255])
def test_pod_completes_with_the_apps_exit_code(pod, code):
    """The container exits with the app's code; the sidecar got one quit after the app exited."""
    p = pod(["/testapp", "exit", str(code)])
    assert p.app_code() == code, p.explain()
    assert_one_quit_after(p, app_exited=value_of(p.app, "exiting"))
    assert f"app exited with code {code}" in stderr_of(p.app)


@pytest.mark.parametrize("name", ["SIGKILL", "SIGTERM", "SIGUSR1"])
def test_app_killed_by_signal_n_exits_128_plus_n(pod, name):
    """An app that dies by signal N makes the container exit 128+N, and the sidecar is still quit."""
    signum = getattr(signal, name)
    p = pod(["/testapp", "die", str(signum)])
    assert p.app_code() == 128 + signum, p.explain()
    assert f"app killed by {name}" in stderr_of(p.app)
    assert_one_quit_after(p)


# -- signals from Docker ----------------------------------------------------------------------------
INIT = pytest.mark.parametrize("init", [False, True], ids=["pid1", "docker-init"])


@INIT
def test_docker_stop_reaches_the_app_and_keeps_its_code(pod, scratch_image, init):
    """`docker stop` (TERM to PID 1) ends the app at once, the container exits with the app's code."""
    p = pod(["/app", "wait"], image=scratch_image, environment={"APP_EXIT": str(APP_EXIT)}, init=init)
    wait_for_app(p)
    started = time.monotonic()
    p.app.stop(timeout=10)
    elapsed = time.monotonic() - started
    assert p.app_code(5) == APP_EXIT, p.explain()
    assert elapsed < 5, f"docker stop took {elapsed:.1f}s: the app ended only by the 10 s KILL"
    assert stdout_of(p.app).splitlines()[1:] == [f"app: got signal {int(signal.SIGTERM)}"]
    assert_one_quit_after(p)


@INIT
@pytest.mark.parametrize("name", ["SIGHUP", "SIGUSR1"])
def test_docker_kill_signal_reaches_the_app_exactly_once(pod, scratch_image, init, name):
    """`docker kill -s HUP|USR1` reaches the app exactly once; the wrapper neither dies nor hangs."""
    signum = int(getattr(signal, name))
    p = pod(["/app", "wait"], image=scratch_image, environment={"APP_EXIT": str(APP_EXIT)}, init=init)
    wait_for_app(p)
    p.app.kill(signal=name)
    wait_for_output(p.app, lambda line: line == f"app: got signal {signum}", timeout=5, what=name)
    assert status_of(p.app) == "running", "the wrapper must survive the signal" + p.explain()
    started = time.monotonic()
    p.app.stop(timeout=10)
    assert p.app_code(5) == APP_EXIT, p.explain()
    assert time.monotonic() - started < 5, "the wrapper hung: docker stop needed its KILL"
    got = stdout_of(p.app).splitlines()[1:]
    assert got == [f"app: got signal {signum}", f"app: got signal {int(signal.SIGTERM)}"], got
    assert_one_quit_after(p)


# -- no sidecar -------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, expected", [("fail", 69), ("run", 5)])
def test_no_sidecar_readiness_timeout(containers, apps_image, mode, expected):
    """No sidecar: after SIDECAR_KILLER_READY_TIMEOUT, `fail` exits 69 without the app, `run` runs it."""
    app = containers.run(apps_image, ["/testapp", "exit", "5"], network_mode="none",
                         environment={"SIDECAR_KILLER_READY_TIMEOUT": "1",
                                      "SIDECAR_KILLER_ON_READY_TIMEOUT": mode})
    assert exit_code(app) == expected, stderr_of(app)
    assert ("started" in stdout_of(app)) is (mode == "run")
    assert "is the sidecar injected into this pod?" in stderr_of(app)


# -- filesystem and user ----------------------------------------------------------------------------
def test_read_only_root_with_an_exec_tmpfs_at_tmp_works(pod, scratch_image):
    """A read-only root filesystem works when /tmp is a tmpfs that allows exec."""
    p = pod(None, image=scratch_image, environment={"APP_EXIT": "3"}, read_only=True,
            tmpfs={"/tmp": "exec,mode=1777"})
    assert p.app_code() == 3, p.explain()
    assert stdout_of(p.app).startswith("app: hello")
    assert_one_quit_after(p)


def test_missing_tmp_is_one_line_and_exit_73(docker_client, containers, scratch_image):
    """An image without /tmp fails at once with one line, "cannot extract to /tmp", and exit 73."""
    tag = "sidecar-killer:test-notmp"
    build_small_image(docker_client, tag, "tests/docker/variants/notmp.Dockerfile",
                      buildargs={"BASE": scratch_image})
    app = containers.run(tag, network_mode="none")
    assert exit_code(app) == 73, stderr_of(app)
    lines = stderr_of(app).splitlines()
    assert len(lines) == 1 and "cannot extract to /tmp: No such file or directory" in lines[0], lines
    assert stdout_of(app) == ""


def test_noexec_tmp_is_one_line_and_exit_73(containers, scratch_image):
    """A noexec tmpfs at /tmp (Docker's default for --tmpfs) fails with one line and exit 73."""
    app = containers.run(scratch_image, network_mode="none", read_only=True,
                         tmpfs={"/tmp": "noexec,mode=1777"})
    assert exit_code(app) == 73, stderr_of(app)
    lines = stderr_of(app).splitlines()
    assert len(lines) == 1 and "cannot extract to /tmp: mounted noexec" in lines[0], lines


def test_non_root_user_works(pod, scratch_image):
    """The image runs as user 65532 (no root): /tmp is 1777 and the binary 0755."""
    p = pod(None, image=scratch_image, user="65532", environment={"APP_EXIT": "4"})
    assert p.app_code() == 4, p.explain()
    assert_one_quit_after(p)


# -- processes and environment ----------------------------------------------------------------------
def orphans_settled(view: ProcessView):
    """The processes once the orphans are gone: no zombie, and /testapp the only testapp."""
    procs = view.processes()
    zombies = [proc for proc in procs if proc[2] == "Z"]
    return procs if not zombies and [proc[3] for proc in procs].count("testapp") == 1 else None


def test_orphans_of_the_app_are_reaped_while_it_runs(pod, containers, sidecar_image):
    """Orphans the app leaves behind (double fork) are reaped: no zombie stays in the container."""
    p = pod(["/testapp", "orphans", "5"])
    wait_for_output(p.app, lambda line: line == "orphans left 5", what="the orphans")
    view = ProcessView(containers, sidecar_image, p.app)
    wait_until(lambda: orphans_settled(view), 10, 0.1, "no zombie and no orphan left")
    p.app.stop(timeout=10)
    assert p.app_code(5) == 0, p.explain()


def test_control_without_a_reaper_the_orphans_stay_zombies(containers, apps_image, sidecar_image):
    """Control for the test above: with /testapp itself as PID 1 (no reaping) its 5 orphans stay zombies."""
    app = containers.run(apps_image, ["orphans", "5"], entrypoint=["/testapp"], network_mode="none")
    wait_for_output(app, lambda line: line == "orphans left 5", what="the orphans")
    view = ProcessView(containers, sidecar_image, app)
    zombies = wait_until(lambda: [proc for proc in view.processes() if proc[2] == "Z"] or None, 10,
                         0.1, "the zombies")
    assert len(zombies) == 5 and orphans_settled(view) is None


@pytest.mark.parametrize("library_path", [None, "/opt/lib"], ids=["unset", "set"])
def test_app_environment_has_nothing_from_the_freezers(pod, library_path):
    """The app gets the container's environment: no _PYI_*/_MEI*/STATICX_*, LD_LIBRARY_PATH only as set."""
    environment = {"APP_SETTING": "kept"}
    if library_path:
        environment["LD_LIBRARY_PATH"] = library_path
    p = pod(["/testapp", "env"], environment=environment)
    assert p.app_code() == 0, p.explain()
    seen = dict(line.split("=", 1) for line in stdout_of(p.app).splitlines())
    assert [name for name in seen if name.startswith(("_PYI_", "_MEI", "STATICX_"))] == []
    assert seen.get("LD_LIBRARY_PATH") == library_path
    assert seen["APP_SETTING"] == "kept"
    assert seen["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# -- HEALTHCHECK ------------------------------------------------------------------------------------
def test_check_ready_as_healthcheck_follows_the_sidecar(docker_client, pod, scratch_image):
    """HEALTHCHECK `--check-ready`: unhealthy while the sidecar is not ready, healthy once it is."""
    tag = "sidecar-killer:test-healthcheck"
    build_small_image(docker_client, tag, "tests/docker/variants/healthcheck.Dockerfile",
                      buildargs={"BASE": scratch_image})
    p = pod(["/app", "wait"], image=tag, sidecar_args=["--ready-after", "4"],
            environment={"APP_EXIT": "0"})
    wait_until(lambda: health_of(p.app).get("Status") == "unhealthy", 8, 0.1, "unhealthy")
    wait_until(lambda: health_of(p.app).get("Status") == "healthy", 15, 0.1, "healthy")
    probes = [(probe["ExitCode"], probe["Output"]) for probe in health_of(p.app)["Log"]]
    codes = [code for code, _output in probes]
    assert 1 in codes and codes == sorted(codes, reverse=True), probes  # failures, then successes
    assert all(("answered 200" if code == 0 else "proxy not ready") in output for code, output in probes)
    p.app.stop(timeout=10)
    assert p.app_code(5) == 0, p.explain()
    assert_one_quit_after(p)
