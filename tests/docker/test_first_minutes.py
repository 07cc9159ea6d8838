"""A new user's first ten minutes, as the README tells them, on a real Docker engine: the
release's image loaded under any name, the README's Dockerfile around an app of one's own,
`docker run` without a sidecar (a hint within 10 s, the documented switches), then with the
stand-in proxy; exit codes through `docker run`."""
import io
import platform
import subprocess
import uuid

import pytest

import docker.errors
from entrypoint import __version__
from tests.helpers.pod import LABELS, exit_code, stderr_of, stdout_of
from tests.helpers.process import wait_until
from tests.helpers.snippets import snippets
from tests.test_release import RELEASE, missing

pytestmark = pytest.mark.docker

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]
RELEASE_IMAGE = f"sidecar-killer:{__version__}"
# What a user's own build supplies: a stage named my-app-build holding /my-app (here the
# product image's example app, which prints a line and exits with $APP_EXIT).
MY_APP = "FROM {scratch} AS my-app-source\nFROM scratch AS my-app-build\nCOPY --from=my-app-source /app /my-app\n"
DOCKERFILES = [s for s in snippets("dockerfile") if "my-app-build" in s.text]


@pytest.fixture(scope="module")
def release_image(docker_client):
    """The release's OCI archive loaded as the README says (Docker 20.10: one tag per platform,
    tagged with the plain name), and also under a name of the user's own choosing."""
    archive = RELEASE / "sidecar-killer-oci.tar"
    if not archive.is_file():
        missing(f"no release at {RELEASE}: `make release` makes it")
    subprocess.run(["docker", "load", "-i", str(archive)], check=True, capture_output=True, timeout=300)
    subprocess.run(["docker", "tag", f"{RELEASE_IMAGE}-linux-{ARCH}", RELEASE_IMAGE], check=True, timeout=60)
    own = f"registry.example.com/tools/sk-{uuid.uuid4().hex[:6]}:{__version__}"
    subprocess.run(["docker", "tag", RELEASE_IMAGE, own], check=True, timeout=60)
    yield own
    subprocess.run(["docker", "rmi", own], capture_output=True, timeout=60)


def build_user_image(docker_client, scratch_image, dockerfile: str) -> str:
    tag = f"sidecar-killer-user-{uuid.uuid4().hex[:8]}:latest"
    text = MY_APP.format(scratch=scratch_image) + dockerfile
    try:
        docker_client.images.build(fileobj=io.BytesIO(text.encode()), tag=tag, rm=True, forcerm=True,
                                   labels=LABELS, network_mode="host")
    except docker.errors.BuildError as error:
        raise AssertionError(f"the snippet does not build:\n{text}\n{error}") from None
    return tag


@pytest.fixture
def user_image(docker_client, scratch_image, release_image):
    made = []

    def make(dockerfile: str) -> str:
        made.append(build_user_image(docker_client, scratch_image, dockerfile))
        return made[-1]
    yield make
    for tag in made:
        try:
            docker_client.images.remove(tag, force=True)
        except docker.errors.APIError:
            pass


@pytest.mark.parametrize("snippet", DOCKERFILES, ids=lambda s: s.id)
def test_each_dockerfile_snippet_builds_and_runs(snippet, user_image, containers, release_image):
    for text in (snippet.text, snippet.text.replace(RELEASE_IMAGE, release_image)):
        image = user_image(text)
        app = containers.run(image, environment={"SIDECAR_KILLER_DISABLED": "true", "APP_EXIT": "3"})
        assert exit_code(app) == 3, stderr_of(app)
        assert "app: hello" in stdout_of(app)


@pytest.fixture
def readme_image(user_image):
    (use_it,) = [s for s in DOCKERFILES if s.path == "README.md"]
    return user_image(use_it.text)


def test_without_a_sidecar_a_hint_comes_within_10_s_and_stop_ends_it(readme_image, containers):
    app = containers.run(readme_image, environment={"APP_EXIT": "3"})
    wait_until(lambda: "SIDECAR_KILLER_DISABLED=true" in stderr_of(app), 10, interval=0.2,
               what="the local-run hint")
    app.stop(timeout=10)
    assert exit_code(app) == 143, stderr_of(app)
    assert "app: hello" not in stdout_of(app)


@pytest.mark.parametrize("env, code", [({"SIDECAR_KILLER_DISABLED": "true"}, 3),
                                       ({"SIDECAR_KILLER_NO_PROXY_GRACE": "1"}, 3),
                                       ({"SIDECAR_KILLER_DISABLED": "true", "APP_EXIT": "0"}, 0)])
def test_the_documented_local_switches_run_the_app_and_keep_its_code(readme_image, containers, env, code):
    app = containers.run(readme_image, environment={"APP_EXIT": "3", **env})
    assert exit_code(app) == code, stderr_of(app)
    assert "app: hello" in stdout_of(app)


def test_with_the_stand_in_proxy_the_whole_lifecycle_runs(readme_image, containers, sidecar_image):
    proxy = containers.run(sidecar_image, ["--ready-after", "1.5"])
    app = containers.run(readme_image, environment={"APP_EXIT": "5"}, network_mode=f"container:{proxy.id}")
    assert exit_code(app) == 5, stderr_of(app)
    assert exit_code(proxy) == 0, "the proxy was quit"
    assert "proxy ready after" in stderr_of(app) and "proxy quit" in stderr_of(app)


def test_an_option_after_the_entrypoints_double_dash_is_caught(readme_image, containers):
    app = containers.run(readme_image, ["--no-wait"])
    assert exit_code(app) == 64
    assert "or set SIDECAR_KILLER_NO_WAIT" in stderr_of(app)


def test_a_wrong_cmd_is_said_at_once(readme_image, containers):
    app = containers.run(readme_image, ["/bin/sh", "-c", "true"])
    assert exit_code(app, timeout=10) == 127
    assert "cannot run '/bin/sh': not found" in stderr_of(app)
