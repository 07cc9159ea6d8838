"""The shipped Kubernetes manifests as real pods, run by podman (`podman kube play`).

``pod_from_manifest`` takes a Job's or CronJob's pod template exactly as shipped in
examples/kubernetes/, swaps only the image names (and the app's command line, for a test
app whose exit code the test chooses), and appends the proxy container the mesh's injector
would add: a real Envoy as istio-proxy (tests/envoy/istio-proxy.yaml), or for Linkerd the
fake sidecar serving :4191 (and the fake sidecar again for any other sidecar a quit URL
points at). ``KubePod`` plays that Pod YAML with podman, starts its
containers, and reads what happened: exit codes, logs, start and finish times, and the
credentials, capabilities and mounts the kernel gives the wrapper's process.

podman runs as root with the containers.conf that build/setup/podman.sh writes
(``CONTAINERS_CONF``): runc here cannot apply podman's default ulimits. Images come from the
Docker engine (``docker save | podman load``), where the other tests build them.
"""
from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import docker
import docker.errors
import yaml

from entrypoint import config as sk_config
from tests.helpers import envoy
from tests.helpers.pod import BUILD_TIMEOUT, LABELS, _raise_build_error
from tests.helpers.process import REPO, wait_until

CONTAINERS_CONF = os.environ.get("PODMAN_CONTAINERS_CONF", "/etc/containers/sidecar-killer-tests.conf")
SETUP = REPO / "build" / "setup" / "podman.sh"
EXAMPLES = REPO / "examples" / "kubernetes"

# The image's ENTRYPOINT (Dockerfile.scratch): a container without `command` runs this + args.
IMAGE_ENTRYPOINT = ["/sidecar-killer", "--"]
BINARY = "/sidecar-killer"

# The injected proxies. Envoy reads the bootstrap baked into its image and runs as
# tests/helpers/envoy.py runs it: its own log carries the moment it turned LIVE (seconds
# since the epoch), its access log one JSON line per request.
ENVOY_BOOTSTRAP = "/etc/istio/proxy/istio-proxy.yaml"
ENVOY_ARGS = ["-c", ENVOY_BOOTSTRAP, "--disable-hot-restart", "--file-flush-interval-msec",
              str(envoy.FLUSH_MSEC), "--concurrency", "2", *envoy.LOG_ARGS]
PROXY_NOT_READY_FOR = 2.0  # seconds: Envoy's two initial_fetch_timeouts; the stand-in's --ready-after


# -- podman ------------------------------------------------------------------------------
def podman(*args: str, check: bool = True, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run podman with our containers.conf; output as text."""
    env = {**os.environ, "CONTAINERS_CONF": CONTAINERS_CONF}
    result = subprocess.run(["podman", *args], env=env, capture_output=True, text=True,
                            timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def podman_problem() -> str:
    """Empty when podman can run the pods here (after build/setup/podman.sh), else why not."""
    if os.geteuid() != 0:
        return "the pod tests run rootful podman: run them as root"
    if not shutil.which("podman") or not Path(CONTAINERS_CONF).exists():
        setup = subprocess.run([str(SETUP)], capture_output=True, text=True, timeout=900)
        if setup.returncode != 0:
            return f"build/setup/podman.sh failed: {setup.stderr.strip()[-1500:]}"
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False, timeout=60)
    if info.returncode != 0:
        return f"podman info failed: {info.stderr.strip()[-1500:]}"
    return ""


def load_image(client: docker.DockerClient, tag: str) -> str:
    """The Docker image ``tag`` in podman's store (loaded unless the same id is there already);
    the name a pod uses for it."""
    name = f"localhost/{tag}"
    wanted = client.images.get(tag).id.split(":", 1)[1]
    have = podman("image", "inspect", "--format", "{{.Id}}", name, check=False)
    if have.returncode == 0 and have.stdout.strip() == wanted:
        return name
    save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
    try:
        podman("load", stdin=save.stdout, timeout=300)
    finally:
        save.stdout.close()
        save.wait(60)
    assert save.returncode == 0, f"docker save {tag} exited {save.returncode}"
    return name


def build_image(client: docker.DockerClient, tag: str, dockerfile: str, files: dict) -> None:
    """Build from a context holding only ``dockerfile`` (a repository path) and ``files``
    (context path -> file on this machine), like tests/helpers/pod.py's build_small_image."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(REPO / dockerfile, arcname=dockerfile)
        for arcname, source in files.items():
            tar.add(source, arcname=arcname)
    buffer.seek(0)
    try:
        client.images.build(fileobj=buffer, custom_context=True, dockerfile=dockerfile, tag=tag,
                            network_mode="host", rm=True, forcerm=True, labels=LABELS,
                            timeout=BUILD_TIMEOUT)
    except docker.errors.BuildError as error:
        _raise_build_error(tag, error)


# -- the manifests -----------------------------------------------------------------------
def workloads() -> list:
    """(file, document) for every Job and CronJob in examples/kubernetes, read now."""
    found = []
    for path in sorted([*EXAMPLES.glob("*.yaml"), *EXAMPLES.glob("*.yml")]):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") in ("Job", "CronJob"):
                found.append((path, doc))
    return found


def pod_template(doc: dict) -> dict:
    job = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return job["template"]


def argv_of(container: dict) -> list:
    """What the container runs: its command (or the image's ENTRYPOINT) plus its args."""
    return (container.get("command") or IMAGE_ENTRYPOINT) + container.get("args", [])


def wrapper_config(container: dict) -> sk_config.Config:
    """The configuration the real parser derives from the container's argv and environment."""
    argv = argv_of(container)
    env = {item["name"]: item.get("value", "") for item in container.get("env", [])}
    return sk_config.load(argv[1:], env)


def wrapped_container(template: dict) -> dict:
    """The one container that runs /sidecar-killer (the only container the examples have)."""
    containers = template["spec"]["containers"]
    wrapped = [c for c in containers if argv_of(c)[0] == BINARY]
    assert len(wrapped) == 1 and len(containers) == 1, \
        "the pod tests expect one container, running /sidecar-killer: teach tests/helpers/kube.py more"
    return wrapped[0]


def istio_proxy(image: str) -> dict:
    """istio-proxy as Istio's injector adds it (classic sidecar; securityContext as injected),
    running Envoy with the istio-proxy bootstrap. Not added: the istio-init container (iptables
    redirection: nothing here sends traffic) and the proxy's own probes and volumes."""
    return {
        "name": "istio-proxy",
        "image": image,
        "args": ENVOY_ARGS,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsGroup": 1337,
            "runAsNonRoot": True,
            "runAsUser": 1337,
        },
    }


def linkerd_proxy(image: str, shutdown_enabled: bool) -> dict:
    """A stand-in for linkerd-proxy (tests/helpers/fake_sidecar.py, mesh linkerd): :4191 /ready
    (503 for its first seconds) and /shutdown, which answers 404 unless the pod's annotation
    enabled it, as the injector and proxy do (LINKERD2_PROXY_SHUTDOWN_ENDPOINT_ENABLED)."""
    args = ["--mesh", "linkerd", "--ready-port", "4191", "--ready-after", str(PROXY_NOT_READY_FOR),
            "--exit-after", "120"]
    if not shutdown_enabled:
        args += ["--quit-mode", "disabled"]
    return {
        "name": "linkerd-proxy",
        "image": image,
        "args": args,
        "env": [{"name": "LINKERD2_PROXY_SHUTDOWN_ENDPOINT_ENABLED",
                 "value": "true" if shutdown_enabled else "false"}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 2102,
        },
    }


def quit_stand_in(image: str, port: int) -> dict:
    """Another sidecar with a quit endpoint of its own (scuttle's GENERIC_QUIT_ENDPOINTS):
    the fake sidecar, answering POST /quitquitquit on ``port`` with 200 and exiting."""
    return {
        "name": f"sidecar-{port}",
        "image": image,
        "args": ["--quit-port", str(port), "--ready-port", "0", "--exit-after", "120"],
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "runAsUser": 1000, "capabilities": {"drop": ["ALL"]}},
    }


def pod_from_manifest(doc: dict, name: str, app_image: str, app_args: list, sidecars: list) -> dict:
    """A Pod: the manifest's pod template as shipped, the app container's image and args
    swapped, the injected sidecar containers appended (Istio's injector puts istio-proxy
    last when holdApplicationUntilProxyStarts is off, its default)."""
    template = copy.deepcopy(pod_template(doc))
    app = wrapped_container(template)
    assert "--" not in (app.get("command") or [])[:-1], \
        f"{app['name']}: the app's command line sits in `command`; only `args` is swapped"
    app["image"] = app_image
    app["args"] = list(app_args)
    template["spec"]["containers"].extend(sidecars)
    metadata = {"name": name, **{key: value for key, value in template.get("metadata", {}).items()
                                 if key in ("labels", "annotations")}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


# -- a played pod ------------------------------------------------------------------------
def _timestamp(text: str) -> float | None:
    """podman's RFC 3339 times (nanoseconds) in seconds since the epoch; None if never."""
    if not text or text.startswith("0001-01-01"):
        return None
    head, _, rest = text.partition(".")
    fraction, zone = (rest[:-1], "+00:00") if rest.endswith("Z") else (rest[:-6], rest[-6:])
    return datetime.fromisoformat(f"{head}.{fraction[:6].ljust(6, '0')}{zone}").timestamp()


@dataclass
class Credentials:
    """What the kernel says about a process: /proc/PID/status, mountinfo, memory cgroup."""
    uids: tuple
    gids: tuple
    caps: dict          # CapInh, CapPrm, CapEff, CapBnd, CapAmb as integers
    no_new_privs: int
    seccomp: int        # 2: a seccomp filter is installed
    mounts: dict        # mount point -> set of its per-mount options (ro/rw, noexec, ...)
    memory_limit: int | None  # bytes, from the process's memory cgroup

    @classmethod
    def of(cls, pid: int) -> "Credentials":
        status = {}
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            status[key] = value.split()
        mounts = {}
        for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
            fields = line.split()
            mounts[fields[4]] = set(fields[5].split(","))
        return cls(uids=tuple(map(int, status["Uid"])), gids=tuple(map(int, status["Gid"])),
                   caps={key: int(status[key][0], 16) for key in
                         ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
                   no_new_privs=int(status["NoNewPrivs"][0]), seccomp=int(status["Seccomp"][0]),
                   mounts=mounts, memory_limit=_memory_limit(pid))


def _memory_limit(pid: int) -> int | None:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            limit = Path(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")
        elif controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            limit = Path(f"/sys/fs/cgroup{path}/memory.max")
        else:
            continue
        if limit.exists():
            text = limit.read_text().strip()
            return None if text == "max" else int(text)
    return None


class KubePod:
    """``spec`` played by ``podman kube play --start=false``: created, nothing started, so the
    test chooses the start order. ``remove`` deletes the pod and its emptyDir volumes (podman
    names them after the pod's volume: two pods at once would share them)."""

    def __init__(self, spec: dict, workdir: Path):
        self.spec = spec
        self.name = spec["metadata"]["name"]
        self.file = Path(workdir) / f"{self.name}.yaml"
        self.file.write_text(yaml.safe_dump(spec, sort_keys=False))
        self.volumes = [v["name"] for v in spec["spec"].get("volumes", []) if "emptyDir" in v]
        self.played = False

    def container(self, name: str) -> str:
        """podman's name for the pod's container ``name``."""
        return f"{self.name}-{name}"

    def play(self) -> "KubePod":
        self.played = True
        podman("kube", "play", "--start=false", str(self.file))
        return self

    def start(self, name: str) -> float:
        """Start one container (podman starts the pod's infra container first); when (epoch)."""
        started = time.time()
        podman("start", self.container(name))
        return started

    def inspect(self, name: str) -> dict:
        return json.loads(podman("container", "inspect", self.container(name)).stdout)[0]

    def state(self, name: str) -> dict:
        return self.inspect(name)["State"]

    def wait_until(self, condition, timeout: float, what: str):
        """tests.helpers.process.wait_until, failing with what every container said."""
        try:
            return wait_until(condition, timeout, interval=0.1, what=what)
        except AssertionError as error:
            raise AssertionError(f"{error}{self.explain()}") from None

    def exit_code(self, name: str, timeout: float = 30) -> int:
        """Wait (bounded) until the container exited; its exit code."""
        def exited():
            state = self.state(name)
            return state if state["Status"] in ("exited", "stopped") else None
        return self.wait_until(exited, timeout, f"{name} to exit")["ExitCode"]

    def started_at(self, name: str) -> float | None:
        return _timestamp(self.state(name)["StartedAt"])

    def finished_at(self, name: str) -> float | None:
        return _timestamp(self.state(name)["FinishedAt"])

    def credentials(self, name: str) -> Credentials:
        """The kernel's view of the container's PID 1 (it must be running)."""
        pid = self.state(name)["Pid"]
        if not pid:
            raise AssertionError(f"{name} is not running{self.explain()}")
        return Credentials.of(pid)

    def stdout(self, name: str) -> str:
        return podman("logs", self.container(name), check=False).stdout

    def stderr(self, name: str) -> str:
        return podman("logs", self.container(name), check=False).stderr

    def exec(self, name: str, command: list, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run ``command`` in the container, as a kubelet's exec probe does."""
        return podman("exec", self.container(name), *command, check=False, timeout=timeout)

    def pod_status(self) -> str:
        return json.loads(podman("pod", "inspect", self.name).stdout)["State"]

    def explain(self) -> str:
        """What every container said, for assertion messages."""
        if not self.played:
            return ""
        parts = []
        for container in self.spec["spec"]["containers"]:
            name = container["name"]
            logs = podman("logs", self.container(name), check=False)
            parts.append(f"\n--- {name}: stdout\n{logs.stdout}--- {name}: stderr\n{logs.stderr}")
        return "".join(parts)

    def remove(self):
        """The pod, its containers and its emptyDir volumes are gone (no error if absent).
        A volume still used by another pod stays (no --force: that would remove that pod's
        containers too)."""
        # Stopped first: with a container in an on-failure restart loop `pod rm` takes seconds.
        podman("pod", "stop", "--ignore", "--time", "0", self.name, check=False, timeout=60)
        podman("pod", "rm", "--force", "--ignore", "--time", "0", self.name, check=False, timeout=60)
        for volume in self.volumes:
            podman("volume", "rm", volume, check=False, timeout=60)


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="sidecar-killer-pods-"))


# -- what the proxies said ---------------------------------------------------------------
@dataclass
class ProxyRequest:
    port: int       # the port it arrived on
    method: str
    path: str
    status: int     # 0: no answer sent (Envoy exited first)
    at: float       # when the proxy received it, seconds since the epoch


def envoy_requests(stdout: str) -> list:
    """Envoy's access log (tests/envoy/istio-proxy.yaml): one JSON object per line."""
    requests = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            requests.append(ProxyRequest(int(entry["port"]), entry["method"], entry["path"],
                                         int(entry["status"]), float(entry["start"])))
    return requests


def envoy_live_at(stderr: str) -> float | None:
    """When Envoy turned LIVE and opened its listeners (epoch), from its own log."""
    for line in stderr.splitlines():
        if line.endswith(envoy.LIVE_LINE):
            return float(line.split()[0])
    return None


def stand_in_requests(stdout: str, port: int) -> list:
    """The fake sidecar's JSON lines (``wall``: epoch) as requests on ``port``."""
    requests = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if "path" in entry:
                requests.append(ProxyRequest(port, entry["method"], entry["path"],
                                             entry["status"], float(entry["wall"])))
    return requests
