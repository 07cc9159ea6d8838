# The image under test with --check-ready as its Docker HEALTHCHECK (probe every second;
# one failure is enough to turn unhealthy, so the test sees both states quickly).
ARG BASE=sidecar-killer:test
FROM ${BASE}
HEALTHCHECK --interval=1s --timeout=5s --retries=1 CMD ["/sidecar-killer", "--check-ready"]
