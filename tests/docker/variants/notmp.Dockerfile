# The image under test without /tmp: only the binary and the example app, FROM scratch.
ARG BASE=sidecar-killer:test
FROM ${BASE} AS base

FROM scratch
COPY --from=base /sidecar-killer /sidecar-killer
COPY --from=base /app /app
ENTRYPOINT ["/sidecar-killer", "--"]
CMD ["/app"]
