"""What the pod's annotations say about the proxy: a native sidecar is never quit."""
import json

import pytest

from entrypoint import native_sidecar
from entrypoint.native_sidecar import _Reader

VOLUMES = ["workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data",
           "istio-podinfo", "istio-token", "istiod-ca-cert"]


def status(init, containers, **extra):
    """Istio's sidecar.istio.io/status, as inject.go writes it (compact JSON)."""
    return json.dumps({"initContainers": init, "containers": containers, "volumes": VOLUMES,
                       "imagePullSecrets": None, "revision": "default", **extra}, separators=(",", ":"))


@pytest.mark.parametrize("text, native", [
    (status(["istio-init", "istio-proxy"], None), True),            # native, iptables init
    (status(["istio-validation", "istio-proxy"], None), True),      # native with the CNI plugin
    (status(["istio-proxy"], None), True),                          # native, interception NONE
    (status(["istio-init"], ["istio-proxy"]), False),               # classic
    (status(["istio-validation"], ["istio-proxy"]), False),         # classic with the CNI plugin
    (status(None, ["istio-proxy"]), False),                         # a gateway
    (json.dumps({"initContainers": ["istio-proxy"]}, indent=2), True),  # pretty-printed
    ("", None), ("   ", None),                                      # Downward API: no annotation
    ("not json", None), ("{", None), ('{"initContainers": ["istio-proxy"]', None), ("[1, 2]", None),
    ('{"initContainers": "istio-proxy"}', None),
    ("[" * 1000 + "]" * 1000, None),                                # deep
    (status(["istio-init"], ["istio-proxy"], pad="x" * 70000), None),  # huge
])
def test_the_istio_status_annotation(text, native):
    found, why = native_sidecar.istio_native(text)
    assert found is native, why
    assert why.isprintable() and len(why) < 200


@pytest.mark.parametrize("value, native", [("true", True), ("enabled", True), ("TRUE", True),
                                           ("false", False), ("disabled", False), ("", None)])
def test_the_linkerd_annotation(value, native):
    assert native_sidecar.linkerd_native(value)[0] is native


def test_the_option_wins_and_nothing_means_classic():
    classic = status(["istio-init"], ["istio-proxy"])
    assert native_sidecar.decide(True, classic, "false") == (True, "--native-sidecar")
    assert native_sidecar.decide(False, "", "")[0] is False
    assert native_sidecar.decide(False, "garbage", "true")[0] is True, "Linkerd's says, when Istio's says nothing"


@pytest.mark.parametrize("text", ['{"a": [1, -2.5e3, true, false, null, {}], "b\\"c": "\\u00e9\\n"}',
                                  '  []  ', '"x"', '{"k": {"n": {"m": []}}}'])
def test_the_reader_agrees_with_json(text):
    assert _Reader(text).document() == json.loads(text)
