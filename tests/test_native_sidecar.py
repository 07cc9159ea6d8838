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


# Linkerd's injector reads config.linkerd.io/proxy-enable-native-sidecar (2.20), and the deprecated
# config.beta.linkerd.io/ (2.19) and config.alpha.linkerd.io/ (2.15 on) names, with Go's
# strconv.ParseBool: exactly these words; any other value is an error Linkerd ignores.
GO_TRUE = ["1", "t", "T", "TRUE", "true", "True"]
GO_FALSE = ["0", "f", "F", "FALSE", "false", "False"]
IGNORED = ["enabled", "disabled", "yes", "no", "on", "off", "tRUE", "FaLsE", "tr", "2", "-1", "01", "0x1",
           "y", "\"true\"", "true.", "t rue",
           " true", "true ", "\ttrue", "true\n", " ", "\n",      # Go trims nothing
           "true" * 10000, "x" * 100000,                           # very long
           "\x00", "true\x00", "\x1b[31mtrue", "\u200btrue", "\udc80", "tru\u0435",  # not printable, lookalikes
           "\U000e0001" * 30]                                        # the longest to quote


@pytest.mark.parametrize("value", GO_TRUE)
def test_linkerd_reads_go_true(value):
    found, why = native_sidecar.linkerd_native(value)
    assert found is True
    assert why == f"Linkerd's proxy-enable-native-sidecar annotation is {value!r}"


@pytest.mark.parametrize("value", GO_FALSE)
def test_linkerd_reads_go_false(value):
    found, why = native_sidecar.linkerd_native(value)
    assert found is False
    assert why == f"Linkerd's proxy-enable-native-sidecar annotation is {value!r}"


def test_no_linkerd_annotation_says_nothing():
    assert native_sidecar.linkerd_native("") == (None, "no Linkerd proxy-enable-native-sidecar annotation")


@pytest.mark.parametrize("value", IGNORED, ids=lambda v: ascii(v[:12]) + (f"-{len(v)}" if len(v) > 12 else ""))
def test_a_word_linkerd_ignores_says_nothing(value):
    """Such as "enabled": Linkerd leaves its default, which the pod does not show."""
    found, why = native_sidecar.linkerd_native(value)
    assert found is None
    assert why.startswith("Linkerd's proxy-enable-native-sidecar annotation is ")
    assert why.endswith("so Linkerd ignores it too")
    assert why.isprintable() and len(why) < 400
    if len(value) > native_sidecar.SHOWN:
        assert f"({len(value)} characters)" in why


def test_the_words_are_gos_own():
    """Go's strconv/atob.go ParseBool, word for word."""
    assert sorted(native_sidecar.GO_TRUE) == sorted(GO_TRUE)
    assert sorted(native_sidecar.GO_FALSE) == sorted(GO_FALSE)


def test_the_option_wins_and_nothing_means_classic():
    classic = status(["istio-init"], ["istio-proxy"])
    assert native_sidecar.decide(True, classic, "false") == (True, "--native-sidecar")
    assert native_sidecar.decide(False, "", "")[0] is False
    assert native_sidecar.decide(False, "garbage", "true")[0] is True, "Linkerd's says, when Istio's says nothing"
    assert native_sidecar.decide(False, "", "enabled")[0] is False, "a word Linkerd ignores: classic, as before"
    assert native_sidecar.decide(False, classic, "true")[0] is False, "Istio's status first"


@pytest.mark.parametrize("text", ['{"a": [1, -2.5e3, true, false, null, {}], "b\\"c": "\\u00e9\\n"}',
                                  '  []  ', '"x"', '{"k": {"n": {"m": []}}}'])
def test_the_reader_agrees_with_json(text):
    assert _Reader(text).document() == json.loads(text)
