"""The Kubernetes examples: valid for the API server, and still teaching what they claim.

Every YAML file under examples/kubernetes is validated in strict mode (unknown fields fail)
against the OpenAPI schemas bundled with kubernetes-validate, for the two newest Kubernetes
minor versions it knows and the oldest we target (1.29). The schemas do not check enums or quantities, and
nothing in them knows sidecar-killer, so the rest of this file checks the facts the examples
exist to show: a hardened pod, an exec-able /tmp big enough for the extraction, memory for the
wrapper chain, a --check-ready startup probe that cannot pre-empt the wrapper's own timeout,
options placed before "--", and --quit-on success under restartPolicy: OnFailure.
Runs offline: the schemas ship inside the package.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from kubernetes_validate import utils as kv
from packaging.version import Version

from entrypoint import config as sk_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "kubernetes"
FILES = sorted([*EXAMPLES.glob("*.yaml"), *EXAMPLES.glob("*.yml")])
REQUIRED = {"cronjob-istio.yaml", "cronjob-linkerd.yaml", "job-onfailure.yaml"}

# The image's ENTRYPOINT (Dockerfile.scratch); a container without `command` runs this + args.
IMAGE_ENTRYPOINT = ["/sidecar-killer", "--"]
BINARY = "/sidecar-killer"

MIB = 1024 ** 2
WRAPPER_RSS = 8 * MIB  # one process, measured ~7.5 MiB while the app runs (make bench)


def _versions() -> list[str]:
    """Bundled schema versions (the package lists each twice: plain and -strict)."""
    return sorted(set(kv.all_versions()), key=Version)


# The oldest Kubernetes the examples are for: native sidecars went beta (on by default) in
# 1.29, so older clusters have no choice to make (docs/when-to-use.md). Earlier schemas also
# reject podFailurePolicy rules without onPodConditions (1.25).
FLOOR = Version("1.29")
BUNDLED = _versions()
VERSIONS = sorted({*BUNDLED[-2:], *[v for v in BUNDLED if Version(v) >= FLOOR][:1]}, key=Version)


def _documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


DOCS = [(path, index, doc) for path in FILES for index, doc in enumerate(_documents(path))]
WORKLOADS = [(path, doc) for path, _, doc in DOCS if doc.get("kind") in ("CronJob", "Job")]


def _id(path: Path, index: int | None = None) -> str:
    return path.name if index is None else f"{path.name}#{index}"


def _validate(doc: dict, version: str) -> None:
    used = kv.validate(doc, version, strict=True)
    # validate() falls back to an older bundled schema for an unknown version: it must not.
    assert Version(used) == Version(kv.major_minor(version)), f"validated against {used}, not {version}"


# -- helpers on the pod template ------------------------------------------------------------
def _job_spec(doc: dict) -> dict:
    return doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]


def _template(doc: dict) -> dict:
    return _job_spec(doc)["template"]


def _wrapped(pod: dict) -> list[dict]:
    """Containers that run sidecar-killer (explicit command, or the image's ENTRYPOINT)."""
    return [c for c in pod.get("containers", []) if (c.get("command") or IMAGE_ENTRYPOINT)[0] == BINARY]


def _env(container: dict) -> dict:
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}


def _config(argv: list, env: dict) -> sk_config.Config:
    """The configuration the real parser derives from a container's argv and environment."""
    assert argv[0] == BINARY
    return sk_config.load(argv[1:], env)


def _container_config(container: dict) -> sk_config.Config:
    return _config((container.get("command") or IMAGE_ENTRYPOINT) + container.get("args", []),
                   _env(container))


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T|m)?$")
_FACTOR = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}


def quantity(text) -> float:
    """A Kubernetes resource quantity (the subset the examples may use) in base units."""
    match = _QUANTITY.match(str(text))
    assert match, f"{text!r} is not a Kubernetes quantity"
    return float(match.group(1)) * _FACTOR[match.group(2)]


# -- the tests ------------------------------------------------------------------------------
def test_the_promised_examples_exist():
    """The examples the docs point to are there, and the schema set is the one we expect."""
    assert REQUIRED <= {path.name for path in FILES}
    assert len(VERSIONS) >= 2 and VERSIONS[-1] == BUNDLED[-1]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path, index, doc", DOCS, ids=[_id(p, i) for p, i, _ in DOCS])
def test_validates_strictly_against_kubernetes_schema(path, index, doc, version):
    """Each document is a valid object for that Kubernetes version, with no unknown field."""
    _validate(doc, version)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("breakage", [
    lambda pod: pod["containers"][0].__setitem__("readOnlyRootFileSystem", True),   # misplaced
    lambda pod: pod["containers"][0]["securityContext"].__setitem__("readOnlyRootFileSystem", True),
    lambda pod: pod["containers"][0].setdefault("env", []).append({"name": "X", "value": True}),
    lambda pod: pod.pop("containers"),
], ids=["unknown-container-field", "misspelt-securityContext-field", "non-string-env", "no-containers"])
def test_a_broken_manifest_fails_validation(breakage, version):
    """Strict validation really rejects broken manifests (guards against a lax schema set)."""
    doc = copy.deepcopy(_documents(EXAMPLES / "cronjob-istio.yaml")[0])
    breakage(_template(doc)["spec"])
    with pytest.raises(kv.ValidationError):
        _validate(doc, version)


@pytest.mark.parametrize("path, doc", WORKLOADS, ids=[_id(p) for p, _ in WORKLOADS])
class TestWorkload:
    def test_job_bounds(self, path, doc):
        """Jobs retry a bounded number of times, have a deadline and are cleaned up."""
        if doc["kind"] == "CronJob":
            assert doc["spec"]["concurrencyPolicy"] == "Forbid"
        job = _job_spec(doc)
        assert job["backoffLimit"] >= 0
        assert job["activeDeadlineSeconds"] > 0, "last resort if the proxy is never quit"
        assert job["ttlSecondsAfterFinished"] > 0
        assert _template(doc)["spec"]["restartPolicy"] in ("Never", "OnFailure")

    def test_pod_is_hardened(self, path, doc):
        """Non-root, RuntimeDefault seccomp; the wrapped containers read-only, unprivileged."""
        pod = _template(doc)["spec"]
        pod_sc = pod.get("securityContext", {})
        containers = _wrapped(pod)
        assert containers, "no container runs /sidecar-killer"
        for container in containers:
            sc = {**pod_sc, **container.get("securityContext", {})}
            assert sc.get("runAsNonRoot") is True
            assert sc.get("runAsUser", 0) == 65532
            assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault"
            assert sc.get("allowPrivilegeEscalation") is False
            assert sc.get("readOnlyRootFilesystem") is True
            assert not sc.get("privileged", False)
            assert "ALL" in sc.get("capabilities", {}).get("drop", [])
            assert not sc.get("capabilities", {}).get("add")

    def test_no_volume_for_sidecar_killer(self, path, doc):
        """The binary runs in place: no /tmp, no TMPDIR, no emptyDir on its account."""
        pod = _template(doc)["spec"]
        for container in _wrapped(pod):
            mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
            assert "/tmp" not in mounts and "TMPDIR" not in _env(container), \
                "sidecar-killer needs no /tmp; mount one only for the app, saying so"
        assert not [v for v in pod.get("volumes", []) if v.get("name") == "tmp"]

    def test_memory_fits_the_wrapper(self, path, doc):
        """Requests cover the wrapper plus some app; the limit covers it twice (a probe runs)."""
        for container in _wrapped(_template(doc)["spec"]):
            resources = container["resources"]
            request = quantity(resources["requests"]["memory"])
            limit = quantity(resources["limits"]["memory"])
            assert request > WRAPPER_RSS
            assert limit >= max(request, 2 * WRAPPER_RSS)
            quantity(resources["requests"]["cpu"])

    def test_options_come_before_the_separator(self, path, doc):
        """The real parser accepts each container's argv and finds the app as the command."""
        for container in _wrapped(_template(doc)["spec"]):
            argv = (container.get("command") or IMAGE_ENTRYPOINT) + container.get("args", [])
            after = argv[argv.index("--") + 1:] if "--" in argv else []
            flags = {option.flag for option in sk_config.OPTIONS}
            assert not flags & {arg.partition("=")[0] for arg in after}, \
                f"{container['name']}: a sidecar-killer flag after '--' is passed to the app"
            config = _container_config(container)
            assert config.command and not config.command[0].startswith("-")

    def test_no_probe_runs_the_wrapper_again(self, path, doc):
        """No probe execs --check-ready in a Job: nothing routes to a Job's pod and nothing waits
        for its container to be "started", so a probe would only cost a second process per run and
        a Warning event per failure (docs/when-to-use.md says where --check-ready helps)."""
        for container in _wrapped(_template(doc)["spec"]):
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert "--check-ready" not in str(container.get(kind, "")), f"{container['name']}: {kind}"

    def test_mesh_annotations(self, path, doc):
        """Injection is requested (but where the manifest is for meshed and unmeshed namespaces alike:
        the namespace decides); Linkerd's /shutdown is enabled where --mesh linkerd is used; the
        wrapper reads the annotation that says whether the proxy is a native sidecar."""
        metadata = _template(doc).get("metadata", {})
        labels, annotations = metadata.get("labels", {}), metadata.get("annotations", {})
        meshes = {_container_config(c).mesh for c in _wrapped(_template(doc)["spec"])}
        assert len(meshes) == 1
        if meshes == {"linkerd"}:
            assert annotations.get("linkerd.io/inject") == "enabled"
            assert annotations.get("config.linkerd.io/proxy-admin-shutdown") == "enabled"
            # Linkerd 2.20's name (linkerd/linkerd2 pkg/k8s/labels.go); 2.19 config.beta., 2.15-2.18 config.alpha.
            variable, annotation = "SIDECAR_KILLER_LINKERD_NATIVE_SIDECAR", "config.linkerd.io/proxy-enable-native-sidecar"
        elif any(_container_config(c).no_proxy_grace for c in _wrapped(_template(doc)["spec"])):
            assert "sidecar.istio.io/inject" not in labels, "it would opt the pod into the mesh everywhere"
            variable, annotation = "SIDECAR_KILLER_ISTIO_STATUS", "sidecar.istio.io/status"
        else:
            assert labels.get("sidecar.istio.io/inject") == "true"
            assert "sidecar.istio.io/nativeSidecar" not in annotations, "one image for native and classic"
            variable, annotation = "SIDECAR_KILLER_ISTIO_STATUS", "sidecar.istio.io/status"
        for container in _wrapped(_template(doc)["spec"]):
            env = {e["name"]: e for e in container.get("env", [])}
            assert env[variable]["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.annotations['{annotation}']"


ON_FAILURE = [(p, d) for p, d in WORKLOADS if _template(d)["spec"].get("restartPolicy") == "OnFailure"]


@pytest.mark.parametrize("path, doc", ON_FAILURE, ids=[_id(p) for p, _ in ON_FAILURE])
def test_restart_in_place_keeps_the_proxy(path, doc):
    """Under restartPolicy: OnFailure the proxy is quit only after success (or never)."""
    for container in _wrapped(_template(doc)["spec"]):
        assert _container_config(container).quit_on in ("success", "never")


def test_onfailure_example_uses_quit_on_success():
    """The OnFailure example exists to show --quit-on success."""
    (doc,) = _documents(EXAMPLES / "job-onfailure.yaml")
    pod = _template(doc)["spec"]
    assert pod["restartPolicy"] == "OnFailure"
    assert [_container_config(c).quit_on for c in _wrapped(pod)] == ["success"]


def test_scuttle_example_is_configured_by_scuttle_variables_only():
    """The migration example keeps scuttle's variables and overrides none of them with a
    SIDECAR_KILLER_* variable (it adds only the native-sidecar annotation, which scuttle lacks)."""
    path = EXAMPLES / "job-scuttle-migration.yaml"
    if not path.exists():
        pytest.skip("no scuttle example")
    (doc,) = _documents(path)
    (container,) = _wrapped(_template(doc)["spec"])
    env = _env(container)
    assert {"ENVOY_ADMIN_API", "ISTIO_QUIT_API"} <= set(env)
    assert [name for name in env if name.startswith(sk_config.ENV_PREFIX)] == ["SIDECAR_KILLER_ISTIO_STATUS"]
    assert container.get("command") is None, "the image's ENTRYPOINT must be enough"


@pytest.mark.parametrize("path, doc", WORKLOADS, ids=[_id(p) for p, _ in WORKLOADS])
def test_jobs_fail_fast_on_what_a_retry_cannot_fix(path, doc):
    """64 (usage), 126 and 127 (the command cannot run) end the Job at once, where Kubernetes
    allows a podFailurePolicy (restartPolicy: Never)."""
    job = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    if _template(doc)["spec"].get("restartPolicy") != "Never":
        assert "podFailurePolicy" not in job
        return
    (container,) = _wrapped(_template(doc)["spec"])
    rules = [r for r in job["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
    assert any(r["onExitCodes"] == {"containerName": container["name"], "operator": "In",
                                    "values": [64, 126, 127]} for r in rules)


def test_one_example_runs_with_and_without_a_mesh():
    envs = [_env(c) for _, doc in WORKLOADS for c in _wrapped(_template(doc)["spec"])]
    assert any(float(env.get("SIDECAR_KILLER_NO_PROXY_GRACE") or 0) > 0 for env in envs)
