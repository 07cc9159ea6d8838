"""Session fixtures for the Docker tests: the engine, the images (built once), and per-test pods.

Images (tagged, labelled sidecar-killer-test=1, kept between sessions so the layer cache makes
the next session fast):
  sidecar-killer:test          Dockerfile.scratch, unmodified: the product image under test
  sidecar-killer:test-build    its build stage (musl-gcc), to compile the test app
  sidecar-killer:test-sidecar  tests/docker/sidecar: the fake istio-proxy
  sidecar-killer:test-apps     sidecar-killer:test plus /testapp (tests/docker/apps)
Containers are labelled too and removed after each test, also when it fails; at the end of the
session earlier (now untagged) builds of these images are pruned, only those with our label.
"""
from __future__ import annotations

import os
import subprocess

import pytest
import requests

import docker
import docker.errors
from tests.helpers.pod import LABEL, Containers, Pod, build_repo_image, build_small_image, image_exists
from tests.helpers.process import REPO

BASE_IMAGE = "debian:bookworm-slim"
SCRATCH_IMAGE = "sidecar-killer:test"
BUILD_STAGE_IMAGE = "sidecar-killer:test-build"
SIDECAR_IMAGE = "sidecar-killer:test-sidecar"
APPS_IMAGE = "sidecar-killer:test-apps"


@pytest.fixture(scope="session")
def docker_client():
    """A Docker client. No engine: skip with the reason, or fail when CI is set (never skip there)."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as error:
        reason = (f"no Docker engine reachable ({error}); `make engine` starts one "
                  "(root on Debian/Ubuntu), or set DOCKER_HOST")
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    yield client
    # Earlier builds of our tags (sources changed since) are left untagged: drop those, only ours.
    try:
        client.images.prune(filters={"dangling": True, "label": f"{LABEL}=1"})
    except docker.errors.APIError:
        pass  # e.g. another prune running; nothing to lose
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client):
    """debian:bookworm-slim, made by build/setup/base-image.sh when missing (pull, or debootstrap)."""
    if not image_exists(docker_client, BASE_IMAGE):
        result = subprocess.run([str(REPO / "build/setup/base-image.sh")], capture_output=True,
                                text=True, timeout=900)
        if result.returncode != 0 or not image_exists(docker_client, BASE_IMAGE):
            pytest.fail(f"{BASE_IMAGE} is missing and build/setup/base-image.sh could not make it:\n"
                        f"{result.stderr[-2000:]}", pytrace=False)
    return BASE_IMAGE


@pytest.fixture(scope="session")
def scratch_image(docker_client, base_image):
    """The product image: Dockerfile.scratch as it is, legacy builder, host network."""
    build_repo_image(docker_client, SCRATCH_IMAGE, "Dockerfile.scratch")
    return SCRATCH_IMAGE


@pytest.fixture(scope="session")
def sidecar_image(docker_client, base_image):
    """The fake istio-proxy: a two-file build context (its Dockerfile and fake_sidecar.py)."""
    build_small_image(docker_client, SIDECAR_IMAGE, "tests/docker/sidecar/Dockerfile",
                      ["tests/helpers/fake_sidecar.py"])
    return SIDECAR_IMAGE


@pytest.fixture(scope="session")
def apps_image(docker_client, scratch_image):
    """The product image plus /testapp, compiled in Dockerfile.scratch's build stage (cached)."""
    build_repo_image(docker_client, BUILD_STAGE_IMAGE, "Dockerfile.scratch", target="build")
    build_small_image(docker_client, APPS_IMAGE, "tests/docker/apps/Dockerfile",
                      ["tests/docker/apps/testapp.c"],
                      buildargs={"BASE": scratch_image, "CC": BUILD_STAGE_IMAGE})
    return APPS_IMAGE


@pytest.fixture
def containers(docker_client):
    """Starts labelled containers; all removed after the test, whatever its outcome."""
    made = Containers(docker_client)
    yield made
    made.remove_all()


@pytest.fixture
def pod(containers, sidecar_image, apps_image):
    """Factory: ``pod(command, image=..., sidecar_args=[...], **app_container_kwargs)``.

    The app image defaults to the product image plus /testapp; pass ``image=scratch_image``
    to run the product image itself (its example /app)."""
    def make(command=None, image=apps_image, **kwargs) -> Pod:
        return Pod(containers, sidecar_image, image, command, **kwargs)
    return make
