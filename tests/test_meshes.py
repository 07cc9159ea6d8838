"""Right in every mesh mode: native sidecars left alone, Linkerd's closed /shutdown explained,
the Consul and Kuma presets on their real ports. Runs `python -m entrypoint` or SK_TEST_BIN."""
import json
import os
import subprocess

import pytest

from tests.helpers.process import REPO, run
from tests.test_native_sidecar import status
from tests.helpers.lifecycle import NETNS, SH, in_netns, urls

pytestmark = pytest.mark.builds("python", "binary", "emulated")

NATIVE = status(["istio-init", "istio-proxy"], None)
CLASSIC = status(["istio-init"], ["istio-proxy"])


@pytest.mark.parametrize("env, args", [
    ({"SIDECAR_KILLER_ISTIO_STATUS": NATIVE}, []),
    ({"SIDECAR_KILLER_LINKERD_NATIVE_SIDECAR": "true"}, []),
    ({"SIDECAR_KILLER_LINKERD_NATIVE_SIDECAR": "1"}, []),
    ({}, ["--native-sidecar"]),
    ({"SIDECAR_KILLER_NATIVE_SIDECAR": "true", "SIDECAR_KILLER_ISTIO_STATUS": CLASSIC}, []),
], ids=["istio-annotation", "linkerd-annotation", "linkerd-annotation-go-1", "option", "variable-over-annotation"])
def test_a_native_sidecar_is_waited_for_and_never_quit(sidecar, env, args):
    fake = sidecar(ready_after=0.3)
    w = run(urls(fake, *args, "--", SH, "-c", "exit 3"), extra_env=env)
    assert w.returncode == 3
    assert fake.requests_for("ready", 200), "still waited for"
    assert fake.quits == []
    assert "not quitting the proxy: it is a native sidecar" in w.stderr
    assert "kubelet stops it" in w.stderr


@pytest.mark.parametrize("variable, value, says", [
    ("SIDECAR_KILLER_ISTIO_STATUS", CLASSIC,
     "the proxy is a classic sidecar (sidecar.istio.io/status lists istio-proxy among the containers)"),
    ("SIDECAR_KILLER_ISTIO_STATUS", "", "the proxy is a classic sidecar (no sidecar.istio.io/status annotation; "
                                        "no Linkerd proxy-enable-native-sidecar annotation)"),
    ("SIDECAR_KILLER_ISTIO_STATUS", "{garbage", "the proxy is a classic sidecar (sidecar.istio.io/status is not JSON"),
    # Linkerd reads its annotation with Go's strconv.ParseBool and ignores any other word.
    ("SIDECAR_KILLER_LINKERD_NATIVE_SIDECAR", "false", "Linkerd's proxy-enable-native-sidecar annotation is 'false')"),
    ("SIDECAR_KILLER_LINKERD_NATIVE_SIDECAR", "enabled",
     "Linkerd's proxy-enable-native-sidecar annotation is 'enabled': not true or false (nor Go's other boolean "
     "words), so Linkerd ignores it too"),
])
def test_a_classic_absent_unreadable_or_ignored_annotation_quits_as_always(sidecar, variable, value, says):
    fake = sidecar()
    w = run(urls(fake, "--log-level", "debug", "--", SH, "-c", "exit 4"), extra_env={variable: value})
    assert w.returncode == 4
    assert len(fake.quits) == 1
    assert says in w.stderr


def test_linkerds_closed_shutdown_is_one_failed_quit_naming_the_annotation(sidecar):
    fake = sidecar(mesh="linkerd", quit_mode="disabled")
    w = run(["--mesh", "linkerd", "--ready-url", fake.ready_url, "--quit-url", fake.quit_url,
             "--", SH, "-c", "exit 2"])
    assert w.returncode == 2
    assert len(fake.quits) == 1, "a 404 is not retried"
    failed = [line for line in w.stderr_lines if "could not quit" in line]
    assert len(failed) == 1
    assert "HTTP 404" in failed[0] and "config.linkerd.io/proxy-admin-shutdown: enabled" in failed[0]
    only = run(["--quit-only", "--ready-url", fake.ready_url, "--quit-url", fake.quit_url])
    assert only.returncode == 1 and len(fake.quits) == 2


@pytest.mark.skipif(not NETNS and not os.environ.get("CI"), reason="needs root for unshare -n")
@pytest.mark.parametrize("mesh, sidecar_args, ready_path, quit_path", [
    ("consul", ["--mesh", "consul", "--ready-port", "19000", "--quit-port", "20600", "--quit-exit", "3"],
     "/ready", "/graceful_shutdown"),
    ("kuma", ["--mesh", "kuma", "--ready-port", "9902", "--quit-port", "9901"], "/ready", "/quitquitquit"),
])
def test_consul_and_kuma_presets_on_their_real_ports(tmp_path, mesh, sidecar_args, ready_path, quit_path):
    """Consul's /graceful_shutdown answers 200 at once and Envoy stops after the shutdown grace (3 s
    here): the 200 counts, the wrapper does not wait for the grace."""
    log = tmp_path / "sidecar.jsonl"
    script = in_netns(sidecar_args, ["--mesh", mesh, "--", SH, "-c", "exit 3"]).replace(
        "; code=$?; wait;", "; code=$?; echo wrapper-done $(cat /proc/uptime) >&2; wait;")
    result = subprocess.run(["unshare", "-n", SH, "-c", script], capture_output=True, timeout=60, text=True,
                            env={**os.environ, "SIDECAR_LOG": str(log), "PYTHONPATH": str(REPO)})
    assert result.returncode == 3, result.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(e.get("path") == ready_path and e.get("status") == 200 for e in events)
    quits = [e for e in events if e.get("path") == quit_path]
    assert [(e["method"], e["status"]) for e in quits] == [("POST", 200)]
    assert "proxy quit: POST" in result.stderr and "answered 200" in result.stderr
    if mesh == "consul":
        exited = next(e for e in events if e.get("event") == "exited")
        assert exited["t"] - quits[0]["t"] >= 2.5, "the proxy went on for its grace"


def test_the_stand_in_proxy_serves_each_meshs_own_ports():
    """`make fake-proxy`'s proxy with --mesh NAME listens where --mesh NAME looks."""
    from entrypoint.config import MESH_PRESETS
    from entrypoint.values import parse_url
    from tests.helpers.fake_sidecar import MESH_PORTS
    for mesh, urls in MESH_PRESETS.items():
        assert MESH_PORTS[mesh] == (parse_url(urls["ready_url"]).port, parse_url(urls["quit_urls"]).port), mesh
