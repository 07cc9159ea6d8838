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


# -- in place: no /tmp, nothing written, one process -------------------------------------
IN_PLACE = {
    "read-only root, no /tmp at all": {"read_only": True},
    "noexec tmpfs at /tmp": {"read_only": True, "tmpfs": {"/tmp": "noexec,nosuid,size=64k"}},
    "TMPDIR points at nothing": {"read_only": True, "environment": {"TMPDIR": "/nonexistent"}},
    "non-root user on a read-only root": {"read_only": True, "user": "65532:65532"},
}


@pytest.mark.parametrize("settings", IN_PLACE.values(), ids=IN_PLACE.keys())
def test_runs_in_place_whatever_the_filesystem(pod, scratch_image, settings):
    """The scratch image has no /tmp and needs none: the app runs and its code comes back."""
    settings = dict(settings)
    environment = {"APP_EXIT": "3", **settings.pop("environment", {})}
    p = pod(None, image=scratch_image, environment=environment, **settings)
    assert p.app_code() == 3, p.explain()
    assert stdout_of(p.app).startswith("app: hello")
    assert_one_quit_after(p)


def test_a_whole_job_leaves_the_filesystem_as_it_found_it(pod, scratch_image):
    """On a writable root, a whole job (wait, app, quit) creates, changes and deletes nothing."""
    p = pod(None, image=scratch_image, environment={"APP_EXIT": "0"})
    assert p.app_code() == 0, p.explain()
    assert_one_quit_after(p)
    assert p.app.diff() is None or p.app.diff() == [], p.app.diff()


def test_a_sigkilled_start_leaves_nothing_behind(containers, pod, scratch_image):
    """SIGKILL (kubelet after the grace period, OOM) at start and while waiting leaves no file."""
    for when in ("at once", "while waiting"):
        p = pod(None, image=scratch_image, sidecar_args=["--ready-after", "60"])
        if when == "while waiting":
            wait_until(lambda: "waiting for the proxy" in stderr_of(p.app), 10, 0.05, "the wait")
        p.app.kill(signal="SIGKILL")
        assert p.app_code() == 137, p.explain()
        assert p.app.diff() is None or p.app.diff() == [], (when, p.app.diff())


def test_one_process_besides_the_app(pod, containers, scratch_image, sidecar_image):
    """While the app runs, the container holds sidecar-killer as PID 1 and the app: nothing else."""
    p = pod(["/app", "wait"], image=scratch_image, environment={"APP_EXIT": str(APP_EXIT)})
    wait_for_app(p)
    view = ProcessView(containers, sidecar_image, p.app)  # its own python3 shares the namespace
    ours = [(pid, ppid, comm) for pid, ppid, _state, comm in view.processes() if comm != "python3"]
    assert [(pid, comm) for pid, _ppid, comm in ours if pid == 1] == [(1, "sidecar-killer")], ours
    assert [(ppid, comm) for pid, ppid, comm in ours if pid != 1] == [(1, "app")], ours
    p.app.kill(signal="SIGTERM")
    assert p.app_code() == APP_EXIT, p.explain()


def test_sigterm_the_instant_the_container_starts_is_never_lost(pod, scratch_image):
    """TERM sent as soon as `docker run` returns: exit 143, the app never started, one quit."""
    for _ in range(5):
        p = pod(None, image=scratch_image, sidecar_args=["--ready-after", "60"])
        p.app.kill(signal="SIGTERM")
        assert p.app_code() == 143, p.explain()
        assert "app: hello" not in stdout_of(p.app), p.explain()
        assert_one_quit_after(p)


def test_localhost_resolves_in_a_scratch_image(pod, scratch_image):
    """URLs naming localhost work with no libc NSS files in the image: Docker mounts /etc/hosts."""
    p = pod(None, image=scratch_image, environment={
        "APP_EXIT": "0", "SIDECAR_KILLER_READY_URL": "http://localhost:15021/healthz/ready",
        "SIDECAR_KILLER_QUIT_URL": "http://localhost:15020/quitquitquit"})
    assert p.app_code() == 0, p.explain()
    assert "proxy quit: POST http://localhost:15020/quitquitquit answered 200" in stderr_of(p.app)
    assert_one_quit_after(p)


def test_non_root_user_works(pod, scratch_image):
    """The image runs as user 65532 (no root): the binary is 0755 and needs nothing else."""
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
def test_the_app_gets_the_containers_environment_as_is(pod, containers, apps_image, library_path):
    """The app's environment is what it gets as the container's own entrypoint: nothing added or dropped."""
    environment = {"APP_SETTING": "kept", "TMPDIR": "/nonexistent"}
    if library_path:
        environment["LD_LIBRARY_PATH"] = library_path
    p = pod(["/testapp", "env"], environment=environment)
    assert p.app_code() == 0, p.explain()
    alone = containers.run(apps_image, ["env"], entrypoint=["/testapp"], network_mode="none",
                           environment=environment)

    def variables(container):  # HOSTNAME differs: the pod's app shares the sidecar's network
        return sorted(line for line in stdout_of(container).splitlines() if not line.startswith("HOSTNAME="))
    assert exit_code(alone) == 0, stderr_of(alone)
    assert variables(p.app) == variables(alone)
    assert ("LD_LIBRARY_PATH=/opt/lib" in variables(p.app)) is (library_path is not None)


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
