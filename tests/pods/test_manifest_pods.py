"""Each shipped manifest (examples/kubernetes/) as a real pod, run by podman (`kube play`).

The pod is the manifest's pod template exactly as shipped, read when the tests run; only the
image names are swapped for local ones, and the app's `args` for /testapp (the product image
plus a tiny static app that prints when it started and exits with the code the test chooses:
0 where the manifest quits the proxy only after success, 3 elsewhere). The proxy container the
mesh's injector would add is appended: a real Envoy as istio-proxy (tests/envoy/istio-proxy.yaml:
not ready for ~2 s), or for Linkerd the fake sidecar serving :4191 /ready and /shutdown.

podman creates the pod without starting it; the test starts the app container first and the
proxy only once it has looked at the waiting wrapper (as when the kubelet still pulls the proxy
image): that is the hardest case for the wait, and leaves time to read the wrapper's process.

What podman cannot do that the manifests ask for, and where that part is covered instead:
- Probes: the Job manifests have none (tests/test_manifests.py says why). `--check-ready`, as an
  exec probe of a long-running workload would run it, is exec'd once in the waiting container
  and must answer "not ready" (exit 1); its answers are also checked in tests/test_modes.py and
  as a HEALTHCHECK in tests/docker/test_image.py.
- Pod-level `runAsNonRoot` and `seccompProfile: RuntimeDefault`: not enforced as such (podman
  would start a root container; it applies its default seccomp profile to every container
  anyway). Here: the uid the kernel gives the wrapper is runAsUser's, not 0, and a seccomp
  filter is installed. The fields themselves: tests/test_manifests.py (test_pod_is_hardened).
- `emptyDir.sizeLimit`: ignored (a podman volume on the host's disk, no quota). Here: each
  volume the manifest mounts is mounted where it says, read-only or not as asked, and an
  emptyDir allows exec; the manifest text (which volumes, if any): tests/test_manifests.py.
- `resources.requests`: scheduling figures for a node, nothing to enforce in one pod; the
  memory limit is enforced and checked here (the memory cgroup). The figures themselves:
  tests/test_manifests.py (test_memory_fits_the_wrapper).
- Job-level fields (backoffLimit, activeDeadlineSeconds, podFailurePolicy, ttl, schedule):
  the Job controller's, not a pod's; schema-validated and checked in tests/test_manifests.py.
- Istio's istio-init container (iptables redirection) is not added: nothing here sends traffic.
"""
from __future__ import annotations

import copy
import time
import uuid

import pytest

from tests.helpers import kube
from tests.test_manifests import quantity

pytestmark = [pytest.mark.pods, pytest.mark.docker]

WORKLOADS = kube.workloads()
IDS = [path.name for path, _ in WORKLOADS]
FAILED = 3       # the app's code where the manifest quits the proxy whatever the app did
SETTLE = 5.0     # seconds: every container has ended this long after the app exited
PROMPT = 3.0     # seconds: the app starts this soon after the proxy's first 200


def monotonic_to_epoch(mono: float) -> float:
    """A CLOCK_MONOTONIC reading (/testapp's, from a container: the same clock) as epoch."""
    return mono + (time.time() - time.monotonic())


def app_times(stdout: str) -> dict:
    """/testapp's "started T" / "exiting T" lines, as epoch seconds."""
    times = {}
    for line in stdout.splitlines():
        word, _, value = line.partition(" ")
        if word in ("started", "exiting"):
            times.setdefault(word, monotonic_to_epoch(float(value)))
    return times


class Case:
    """One manifest as a pod: what it asks for, and the pod built from it."""

    def __init__(self, doc: dict, images, app_code: int | None = None):
        self.template = kube.pod_template(doc)
        self.app = kube.wrapped_container(self.template)
        self.config = kube.wrapper_config(self.app)   # as shipped
        if app_code is None:  # an exit code that still gets the proxy quit
            app_code = 0 if self.config.quit_on == "success" else FAILED
        self.app_code = app_code
        annotations = self.template.get("metadata", {}).get("annotations", {})
        if self.config.mesh == "linkerd":
            shutdown = annotations.get("config.linkerd.io/proxy-admin-shutdown") == "enabled"
            self.proxy = kube.linkerd_proxy(images.fake_sidecar, shutdown_enabled=shutdown)
        else:
            self.proxy = kube.istio_proxy(images.envoy)
        # Quit URLs the mesh's proxy does not serve belong to other sidecars in the pod
        # (scuttle's GENERIC_QUIT_ENDPOINTS): a stand-in for each.
        self.quit_urls = [url for url in self.config.quit_urls if url.port in self.proxy_ports()]
        self.others = {url: kube.quit_stand_in(images.fake_sidecar, url.port)
                       for url in self.config.quit_urls if url.port not in self.proxy_ports()}
        # Named as the Job controller names its pods: the Job's name and a random suffix.
        name = f"{doc['metadata']['name']}-{uuid.uuid4().hex[:5]}"
        self.spec = kube.pod_from_manifest(doc, name, images.app,
                                           ["/testapp", "exit", str(app_code)],
                                           [self.proxy, *self.others.values()])

    @property
    def proxy_name(self) -> str:
        return self.proxy["name"]

    def proxy_requests(self, pod) -> list:
        out = pod.stdout(self.proxy_name)
        return kube.envoy_requests(out) if self.config.mesh == "istio" else kube.stand_in_requests(out, 4191)

    def proxy_ports(self) -> set:
        return {15000, 15020, 15021} if self.config.mesh == "istio" else {4191}

    def security(self) -> dict:
        """The app container's effective securityContext (container fields win)."""
        return {**self.template["spec"].get("securityContext", {}), **self.app.get("securityContext", {})}


def assert_hardening_in_force(case: Case, creds: kube.Credentials):
    """What the manifest's securityContext, volumes and limits ask, as the kernel applies it
    to the wrapper's process (PID 1 of the app container)."""
    sc = case.security()
    uid, gid = sc.get("runAsUser"), sc.get("runAsGroup")
    if uid is not None:
        assert creds.uids == (uid,) * 4, f"uids {creds.uids}, runAsUser {uid}"
    if gid is not None:
        assert creds.gids == (gid,) * 4, f"gids {creds.gids}, runAsGroup {gid}"
    if sc.get("runAsNonRoot"):
        assert 0 not in creds.uids, "runAsNonRoot: podman does not check it, but the uid must not be 0"
    if sc.get("readOnlyRootFilesystem"):
        assert "ro" in creds.mounts["/"], f"root mounted {creds.mounts['/']}"
    if "ALL" in sc.get("capabilities", {}).get("drop", []) and not sc["capabilities"].get("add"):
        assert creds.caps == dict.fromkeys(creds.caps, 0), f"capabilities left: {creds.caps}"
    if sc.get("allowPrivilegeEscalation") is False:
        assert creds.no_new_privs == 1
    if sc.get("seccompProfile", {}).get("type") == "RuntimeDefault":
        assert creds.seccomp == 2, "no seccomp filter (podman's default profile) on the process"
    volumes = {v["name"]: v for v in case.template["spec"].get("volumes", [])}
    for mount in case.app.get("volumeMounts", []):
        options = creds.mounts.get(mount["mountPath"])
        assert options is not None, f"{mount['mountPath']} is not mounted: {sorted(creds.mounts)}"
        assert ("ro" if mount.get("readOnly") else "rw") in options, (mount, options)
        if "emptyDir" in volumes[mount["name"]]:
            assert "noexec" not in options, f"emptyDir at {mount['mountPath']} must allow exec"
    memory = case.app.get("resources", {}).get("limits", {}).get("memory")
    if memory is not None:
        assert creds.memory_limit == quantity(memory), f"memory cgroup limit {creds.memory_limit}, asked {memory}"


def first(requests: list, url, status: int):
    """The earliest request to ``url`` answered ``status``, or None."""
    matching = [r for r in requests if (r.port, r.path, r.status) == (url.port, url.path, status)]
    return min(matching, key=lambda r: r.at) if matching else None


@pytest.mark.parametrize("path, doc", WORKLOADS, ids=IDS)
def test_manifest_as_a_pod(path, doc, pod_images, kube_pods):
    """The manifest's pod completes: the wrapper waits for the proxy (the app runs only after
    its first 200), the app's exit code is the container's, the proxy exits 0 after the quit,
    every container ends within seconds, and the hardening the manifest asks is in force."""
    case = Case(doc, pod_images)
    assert case.config.quit_on in ("always", "success"), "a pod whose proxy is never quit never completes"
    pod = kube_pods(case.spec).play()
    app = case.app["name"]

    # The app container alone: the wrapper waits, the app has not run.
    pod.start(app)
    creds = pod.credentials(app)
    assert_hardening_in_force(case, creds)
    if not case.config.no_proxy_grace:  # an exec probe in the container's own environment
        result = pod.exec(app, ["/sidecar-killer", "--check-ready"])
        assert result.returncode == 1, f"--check-ready while no proxy runs: {result}{pod.explain()}"
    assert pod.state(app)["Status"] == "running", "the wrapper must wait for the proxy" + pod.explain()
    assert "started" not in pod.stdout(app), "the app ran before the proxy was ready" + pod.explain()

    # Now the proxy (and any other sidecar): ready after ~2 s, then the app runs, then the quit.
    proxy_started = pod.start(case.proxy_name)
    for other in case.others.values():
        pod.start(other["name"])
    assert pod.exit_code(app) == case.app_code, pod.explain()
    assert pod.exit_code(case.proxy_name, timeout=SETTLE) == 0, "the proxy did not exit 0" + pod.explain()
    pod.wait_until(lambda: pod.pod_status() == "Exited", SETTLE, "the whole pod to end (infra container too)")

    times = app_times(pod.stdout(app))
    requests = case.proxy_requests(pod)
    explain = pod.explain() + "\nproxy requests:\n" + "\n".join(map(str, requests))
    assert set(times) == {"started", "exiting"}, explain

    # The app started only after the proxy was ready, and promptly.
    ready = first(requests, case.config.ready_url, status=200)
    assert ready is not None, f"no 200 from {case.config.ready_url}" + explain
    assert proxy_started < ready.at < times["started"] < ready.at + PROMPT, explain
    if case.config.mesh == "istio":
        live = kube.envoy_live_at(pod.stderr(case.proxy_name))
        assert live is not None and live <= ready.at + 0.01, f"Envoy LIVE at {live}" + explain

    # One quit, after the app exited; the proxy exited after it.
    assert case.quit_urls, f"no quit URL of the proxy among {case.config.quit_urls}"
    quits = [r for r in requests if r.method == "POST" and (r.port, r.path) in
             {(url.port, url.path) for url in case.quit_urls}]
    assert len(quits) == 1, "expected exactly one quit" + explain
    assert quits[0].at > times["exiting"], "the quit came before the app exited" + explain
    # Envoy exits before it answers a quit relayed to its admin (status 0).
    assert quits[0].status in (0, 200), explain
    assert pod.finished_at(case.proxy_name) >= quits[0].at, "the proxy ended before the quit" + explain

    # Other sidecars with a quit URL: quit too (once, 200), side by side with the mesh's proxy.
    for url, other in case.others.items():
        assert pod.exit_code(other["name"], timeout=SETTLE) == 0, explain
        other_quits = [r for r in kube.stand_in_requests(pod.stdout(other["name"]), url.port)
                       if r.method == "POST" and r.path == url.path]
        assert [r.status for r in other_quits] == [200], explain
        assert times["exiting"] < other_quits[0].at, explain

    # Every container ended within seconds of the app.
    for name in (app, case.proxy_name, *(other["name"] for other in case.others.values())):
        finished = pod.finished_at(name)
        assert finished - times["exiting"] < SETTLE, f"{name} ended {finished - times['exiting']:.1f}s after the app" + explain


ON_FAILURE = [(p, d) for p, d in WORKLOADS if kube.pod_template(d)["spec"].get("restartPolicy") == "OnFailure"]


@pytest.mark.parametrize("path, doc", ON_FAILURE, ids=[p.name for p, _ in ON_FAILURE])
def test_on_failure_pod_keeps_the_proxy_for_the_retry(path, doc, pod_images, kube_pods):
    """restartPolicy OnFailure: an app that fails leaves the proxy running (no quit) and is
    restarted in place, where the retry finds the proxy ready again."""
    case = Case(doc, pod_images, app_code=1)
    pod = kube_pods(case.spec).play()
    app = case.app["name"]
    pod.start(case.proxy_name)
    pod.start(app)

    def restarted_and_ran_again():
        # /testapp prints two lines per run; podman keeps the log across restarts.
        return pod.inspect(app)["RestartCount"] >= 1 and pod.stdout(app).count("exiting") >= 2
    pod.wait_until(restarted_and_ran_again, 20, "the app's retry")
    requests = case.proxy_requests(pod)
    assert pod.state(case.proxy_name)["Status"] == "running", "the proxy must outlive the failure" + pod.explain()
    assert not [r for r in requests if r.method == "POST"], "the proxy was quit after a failure" \
        + pod.explain() + "\n".join(map(str, requests))
    ready = case.config.ready_url
    assert len([r for r in requests if (r.port, r.path, r.status) == (ready.port, ready.path, 200)]) >= 2, \
        "each run waited for the proxy's 200" + "\n".join(map(str, requests))


ISTIO_CRONJOB = next((p, d) for p, d in WORKLOADS if p.name == "cronjob-istio.yaml")
# Shapes of sidecar.istio.io/status that Istio writes (interception NONE for the native one):
# podman 4.3 refuses annotation values over 63 characters, which the full ones are.
NATIVE_STATUS = '{"initContainers":["istio-proxy"],"containers":null}'
CLASSIC_STATUS = '{"initContainers":["istio-init"],"containers":["istio-proxy"]}'


@pytest.mark.parametrize("status, native", [(NATIVE_STATUS, True), (CLASSIC_STATUS, False)],
                         ids=["native", "classic"])
def test_the_istio_status_annotation_decides_the_quit(status, native, pod_images, kube_pods):
    """The Istio CronJob's pod as Istio admits it, with sidecar.istio.io/status read through the
    Downward API: native, the wrapper waits for the real Envoy, runs the app and quits nothing;
    classic, it quits the proxy. podman 4.3 has no native sidecars (an init container with
    restartPolicy: Always would run to completion first), so istio-proxy is a regular container
    in both pods: the native pod stands for the kubelet's part (ending the proxy itself) by the
    test stopping it."""
    path, doc = ISTIO_CRONJOB
    doc = copy.deepcopy(doc)
    template = kube.pod_template(doc)
    template.setdefault("metadata", {}).setdefault("annotations", {})["sidecar.istio.io/status"] = status
    case = Case(doc, pod_images)
    pod = kube_pods(case.spec).play()
    app = case.app["name"]
    pod.start(case.proxy_name)
    pod.start(app)
    assert pod.exit_code(app) == case.app_code, pod.explain()
    ready = case.config.ready_url
    pod.wait_until(lambda: first(case.proxy_requests(pod), ready, 200), SETTLE, "Envoy's log of the 200")
    time.sleep(10 * kube.envoy.FLUSH_MSEC / 1000)  # a quit right after would be logged by now
    requests = case.proxy_requests(pod)
    quits = [r for r in requests if r.method == "POST"]
    if native:
        assert quits == [], pod.explain()
        assert "not quitting the proxy: it is a native sidecar" in pod.stderr(app), pod.explain()
        assert pod.state(case.proxy_name)["Status"] == "running", "the proxy must be left to the kubelet"
    else:
        ours = [r for r in quits if (r.port, r.path) in {(url.port, url.path) for url in case.quit_urls}]
        assert len(ours) == 1, pod.explain()
        assert pod.exit_code(case.proxy_name, timeout=SETTLE) == 0, pod.explain()
