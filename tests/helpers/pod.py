"""Docker helpers for tests/docker: image builds with small contexts, and a two-container "pod".

A pod is what Kubernetes gives the app: an istio-proxy container (the fake sidecar) and the
app container sharing its network namespace (``network_mode="container:<sidecar>"``), so the
wrapper's default URLs on 127.0.0.1:15021/15020 reach the sidecar.

Everything created here carries ``LABELS``; tests remove their containers after each test.
"""
from __future__ import annotations

import io
import json
import tarfile

import docker
import docker.errors

from tests.helpers.process import REPO, wait_until

LABEL = "sidecar-killer-test"
LABELS = {LABEL: "1"}
BUILD_TIMEOUT = 1200  # seconds for one image build (a cold Dockerfile.scratch: apt, pip, freeze)


class BuildFailed(AssertionError):
    pass


def _raise_build_error(tag: str, error: docker.errors.BuildError):
    lines = [chunk.get("stream", chunk.get("error", "")).rstrip() for chunk in error.build_log]
    tail = "\n".join(line for line in lines if line)[-3000:]
    raise BuildFailed(f"building {tag} failed: {error.msg}\n{tail}\n(behind a TLS-inspecting proxy? "
                      "put its CA in build/ca/, as `make image` does)") from None


def build_repo_image(client: docker.DockerClient, tag: str, dockerfile: str, **kwargs):
    """Build with the repository as context (its .dockerignore applies), legacy builder."""
    try:
        image, _log = client.images.build(path=str(REPO), dockerfile=dockerfile, tag=tag,
                                          network_mode="host", rm=True, forcerm=True,
                                          labels=LABELS, timeout=BUILD_TIMEOUT, **kwargs)
    except docker.errors.BuildError as error:
        _raise_build_error(tag, error)
    return image


def build_small_image(client: docker.DockerClient, tag: str, dockerfile: str, files=(),
                      buildargs=None):
    """Build from a context holding only ``dockerfile`` and ``files`` (paths relative to the
    repository, kept at the same paths), so COPY lines read as from the repository root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in (dockerfile, *files):
            tar.add(REPO / name, arcname=name)
    buffer.seek(0)
    try:
        image, _log = client.images.build(fileobj=buffer, custom_context=True, dockerfile=dockerfile,
                                          tag=tag, buildargs=buildargs or {}, network_mode="host",
                                          rm=True, forcerm=True, labels=LABELS,
                                          timeout=BUILD_TIMEOUT)
    except docker.errors.BuildError as error:
        _raise_build_error(tag, error)
    return image


class Containers:
    """Starts labelled containers and removes every one of them in ``remove_all``."""

    def __init__(self, client: docker.DockerClient):
        self.client = client
        self.started: list = []

    def run(self, image: str, command=None, **kwargs):
        kwargs.setdefault("labels", LABELS)
        container = self.client.containers.run(image, command, detach=True, **kwargs)
        self.started.append(container)
        return container

    def remove_all(self):
        for container in reversed(self.started):
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
        self.started.clear()


def exit_code(container, timeout: float = 30) -> int:
    """Wait (bounded) for the container to end; its exit code."""
    return container.wait(timeout=timeout)["StatusCode"]


def stdout_of(container) -> str:
    return container.logs(stdout=True, stderr=False).decode(errors="replace")


def stderr_of(container) -> str:
    return container.logs(stdout=False, stderr=True).decode(errors="replace")


def status_of(container) -> str:
    container.reload()
    return container.status


def wait_for_output(container, predicate, timeout: float = 10, what: str = "a line") -> list:
    """Poll the container's stdout until some line matches; those lines."""
    def found():
        return [line for line in stdout_of(container).splitlines() if predicate(line)]
    try:
        return wait_until(found, timeout, interval=0.05, what=what)
    except AssertionError as error:
        raise AssertionError(f"{error}\nstdout: {stdout_of(container)!r}\n"
                             f"stderr: {stderr_of(container)!r}\nstatus: {status_of(container)}") from None


class Pod:
    """The fake istio-proxy container, and the app container in its network namespace."""

    def __init__(self, containers: Containers, sidecar_image: str, app_image: str,
                 command=None, sidecar_args=("--ready-after", "0"), **app_kwargs):
        # --exit-after: a sidecar that never gets its quit still ends (the test removes it anyway).
        self.sidecar = containers.run(sidecar_image, [*sidecar_args, "--exit-after", "120"])
        if status_of(self.sidecar) != "running":
            raise AssertionError(f"the fake sidecar ended at once: {stderr_of(self.sidecar)!r}")
        # As the kubelet starts istio-proxy first: the app's container once the proxy listens.
        wait_for_output(self.sidecar, lambda line: '"event": "started"' in line, what="the sidecar listening")
        self.app = containers.run(app_image, command,
                                  network_mode=f"container:{self.sidecar.id}", **app_kwargs)

    def app_code(self, timeout: float = 30) -> int:
        return exit_code(self.app, timeout)

    def sidecar_code(self, timeout: float = 30) -> int:
        return exit_code(self.sidecar, timeout)

    def sidecar_events(self) -> list:
        """The fake sidecar's JSON lines: one per request it answered, plus started/exited."""
        return [json.loads(line) for line in stdout_of(self.sidecar).splitlines() if line.startswith("{")]

    def quits(self) -> list:
        return [e for e in self.sidecar_events() if e.get("path") == "/quitquitquit"]

    def ready_answers(self, status: int) -> list:
        return [e for e in self.sidecar_events()
                if e.get("path") == "/healthz/ready" and e.get("status") == status]

    def explain(self) -> str:
        """Everything both containers said, for assertion messages."""
        return (f"\napp stdout: {stdout_of(self.app)!r}\napp stderr: {stderr_of(self.app)!r}"
                f"\nsidecar: {stdout_of(self.sidecar)!r} {stderr_of(self.sidecar)!r}")


def health_of(container) -> dict:
    container.reload()
    return container.attrs["State"].get("Health") or {}


# Reads /proc; `docker top` cannot be used to look for zombies: it lists the container's
# cgroup, which a process leaves when it exits, so zombies never show there.
_PS = """import json, os
procs = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
    procs.append([int(pid), int(ppid), state, comm])
print(json.dumps(procs))
"""


class ProcessView:
    """Every process of a container, zombies included, as (pid, ppid, state, comm) from /proc,
    seen from a helper container (any image with python3) sharing its pid namespace."""

    def __init__(self, containers: Containers, python_image: str, target):
        self.helper = containers.run(python_image, ["-c", "import time; time.sleep(120)"],
                                     entrypoint=["python3"], pid_mode=f"container:{target.id}",
                                     network_mode="none")

    def processes(self) -> list:
        code, output = self.helper.exec_run(["python3", "-c", _PS])
        assert code == 0, output
        return [tuple(proc) for proc in json.loads(output)]


def image_exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def image_size(client: docker.DockerClient, name: str) -> int:
    return client.images.get(name).attrs["Size"]

