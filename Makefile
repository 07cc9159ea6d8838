# sidecar-killer: `make demo` runs a local pod, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: venv test unit lint-workflows lint-actionlint lint-workflow-schema lint-zizmor check-release

venv: $(VENV)/.installed
$(VENV)/.installed: tests/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r tests/requirements.txt
	$(PY) -m pip install -q -e .
	touch $@

# The whole suite: the release workflow linted (lint-workflows), unit and process tests of
# `python -m entrypoint`, Docker pods of the scratch image, manifests, the release's files
# (checked against its SHA256SUMS first, as the release workflow does); then the process tests
# again against the frozen binary, and against the linux/arm64 release binary under emulation
# (qemu-user: the tests it cannot emulate are expected to fail there, tests/helpers/emulation.py
# says which and why; timing assertions about the wrapper's own start allow it ARM64_TIME_SCALE
# times).
# Which tests run against which build is each test file's own `builds` mark (tests/conftest.py).
# Installs what it needs: the venv, a Docker engine, the base images, the binaries, podman, qemu.
# The release here builds even when Debian moved a pinned package on (RELEASE_PINS=current).
ARM64_TIME_SCALE ?= 10
test: venv lint-workflows build podman
	$(MAKE) release RELEASE_PINS=current
	$(MAKE) check-release
	$(PY) -m pytest
	SK_TEST_BIN=$(CURDIR)/dist/sidecar-killer $(PY) -m pytest
	SK_TEST_BIN=$(CURDIR)/$(RELEASE_DIR)/sidecar-killer-linux-arm64 SK_TEST_TIME_SCALE=$(ARM64_TIME_SCALE) \
	  $(PY) -m pytest -p tests.helpers.emulation

# Unit and process tests of the Python entrypoint only (no Docker, no build).
unit: venv
	$(PY) -m pytest tests --ignore=tests/docker --ignore=tests/pods

# The GitHub Actions workflows (.github/workflows: the release a tag publishes), linted as they
# are: nothing here can run them. actionlint (expressions, job outputs, `needs`, the shell of each
# `run:` through shellcheck), GitHub's workflow schema (check-jsonschema), zizmor's security
# audits offline (pinned actions, permissions, injection, credentials). All pinned in
# tests/requirements.txt. WORKFLOWS=FILE... lints other files (tests/test_workflow.py breaks some).
WORKFLOWS ?= $(sort $(wildcard .github/workflows/*.yml .github/workflows/*.yaml))
lint-workflows: venv
	$(MAKE) --no-print-directory lint-actionlint lint-workflow-schema lint-zizmor WORKFLOWS="$(WORKFLOWS)"

lint-actionlint:
	@[ -n "$(strip $(WORKFLOWS))" ] || { echo "lint-workflows: no workflow to lint" >&2; exit 1; }
	$(VENV)/bin/actionlint -no-color -shellcheck $(VENV)/bin/shellcheck -pyflakes= $(WORKFLOWS)

lint-workflow-schema:
	@[ -n "$(strip $(WORKFLOWS))" ] || { echo "lint-workflows: no workflow to lint" >&2; exit 1; }
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)

lint-zizmor:
	@[ -n "$(strip $(WORKFLOWS))" ] || { echo "lint-workflows: no workflow to lint" >&2; exit 1; }
	$(VENV)/bin/zizmor --offline --no-progress --persona auditor $(WORKFLOWS)

# ---- The static binary and the FROM scratch image ----
# `make build` builds inside Dockerfile.scratch's Debian bookworm build stage and copies the
# binary out, rather than on the host: the binary links Debian bookworm's own static
# libpython3.11.a and glibc, so a container stage gives the same bytes on any host, by the
# same recipe users copy. `make build-host` runs build/freeze.sh directly (Debian bookworm).
IMAGE ?= sidecar-killer:scratch
BUILD_IMAGE ?= sidecar-killer:build
# Legacy builder (Debian's docker.io has no buildx). --network host: here the
# registries are reachable from build containers only via the host network.
DOCKER_BUILD ?= DOCKER_BUILDKIT=0 docker build --network host
# CAs the build stage trusts on top of Debian's, e.g. a TLS-inspecting proxy's.
EXTRA_CA ?= $(wildcard /usr/local/share/ca-certificates/*.crt)

IMAGE_ARGS = --build-arg SOURCE_COMMIT=$$(build/source-commit.sh) --build-arg PYTHON_VERSION=$$(cat build/python-version)

.PHONY: engine image build build-host

# A reachable Docker engine and a local debian:bookworm-slim (no registry needed).
engine:
	build/setup/engine.sh
	build/setup/base-image.sh

image: engine
	$(if $(strip $(EXTRA_CA)),cp $(EXTRA_CA) build/ca/)
	$(DOCKER_BUILD) -f Dockerfile.scratch --target build $(IMAGE_ARGS) -t $(BUILD_IMAGE) .
	$(DOCKER_BUILD) -f Dockerfile.scratch $(IMAGE_ARGS) -t $(IMAGE) .

build: image
	mkdir -p dist
	id=$$(docker create $(IMAGE)) && docker cp $$id:/sidecar-killer dist/sidecar-killer; \
	rc=$$?; docker rm $$id >/dev/null; exit $$rc
	@ls -l dist/sidecar-killer

build-host:
	build/freeze.sh

# podman runs the shipped manifests as pods in `make test` (tests/pods): Debian's
# podman and catatonit, and the containers.conf the tests use (runc here cannot apply
# podman's default ulimits).
.PHONY: podman
podman:
	build/setup/podman.sh

# ---- The release: linux/amd64 and linux/arm64, reproducible, SBOMs, licences ----
# `make release` writes dist/release/ (docs/release.md): both static binaries, each built in
# build/release/Dockerfile's Debian bookworm stage of its own architecture (arm64 under
# qemu-user-static) with the packages pinned in build/release/debian.lock; an SPDX SBOM of
# each; LICENSES/; sidecar-killer-oci.tar (both as FROM scratch images, made by podman);
# SHA256SUMS. Installs what it needs (apt): Docker, qemu-user-static, podman; makes the
# Debian bases locally when they cannot be pulled. RELEASE_PINS=current builds even when
# Debian moved a pinned package on (the SBOM names what was used).
# `make reproduce`: two clean builds (no Docker cache) of this commit, compared byte for byte.
# `make lock`: pin the packages at the versions Debian serves now (commit the lock).
RELEASE_DIR ?= dist/release
RELEASE = DOCKER_BUILD="$(DOCKER_BUILD)" build/release/release.sh

.PHONY: qemu release reproduce lock

qemu:
	build/setup/qemu.sh

release: engine qemu podman
	$(if $(strip $(EXTRA_CA)),cp $(EXTRA_CA) build/ca/)
	RELEASE_DIR=$(RELEASE_DIR) $(RELEASE)

reproduce: engine qemu podman
	$(if $(strip $(EXTRA_CA)),cp $(EXTRA_CA) build/ca/)
	RELEASE_NO_CACHE=1 RELEASE_DIR=dist/reproduce/1 $(RELEASE)
	RELEASE_NO_CACHE=1 RELEASE_DIR=dist/reproduce/2 $(RELEASE)
	diff -r dist/reproduce/1 dist/reproduce/2
	@echo "make reproduce: two clean builds gave identical files:" && cat dist/reproduce/1/SHA256SUMS

lock: engine qemu
	build/release/lock.sh

# Every file of the release against its SHA256SUMS (`make test` after building it; the release
# workflow before it signs and publishes the files it was handed).
check-release:
	cd $(RELEASE_DIR) && sha256sum --strict --check --quiet SHA256SUMS
	@echo "check-release: every file in $(RELEASE_DIR)/SHA256SUMS matches"

# ---- The demo: a local "pod" ----
# The fake istio-proxy of the Docker tests (same image), then examples/demo.py runs the
# pod and prints its timeline.
FAKE_PROXY_IMAGE := sidecar-killer:test-sidecar

.PHONY: demo fake-proxy

fake-proxy: engine
	tar -c tests/docker/sidecar/Dockerfile tests/helpers/fake_sidecar.py \
	  | $(DOCKER_BUILD) -q -f tests/docker/sidecar/Dockerfile -t $(FAKE_PROXY_IMAGE) - >/dev/null

demo: image fake-proxy
	$(PYTHON) examples/demo.py

# ---- Benchmark against the alternatives ----
# `make bench`: ours (dist/sidecar-killer, built first if missing), the seed's busybox
# trick (Debian's busybox-static) and a static C floor, around one static test app, in
# private network and mount namespaces (root), plus `docker run --cpus 0.1` of each (the
# Docker engine). Prints the table with the targets, writes bench/out/ (results, table, chart).
# BENCH_BEFORE=PATH adds an earlier build (e.g. the onefile+staticx one) as the "before" column
# (docs/performance.md says how to build it).
# BENCH_PEERS="NAME=[VAR=VALUE...] /path/to/static-binary [ARGS...]" puts another project's wrapper
# beside ours, run with that environment in every scenario (several: separated by ";"), e.g.
#   BENCH_PEERS="scuttle=ENVOY_ADMIN_API=http://127.0.0.1:15021 ISTIO_QUIT_API=http://127.0.0.1:15020 /path/to/scuttle"
# (docs/performance.md says how the one there was built; nothing here builds it).
# BENCH_ARGS, e.g. "--rounds 21 --quiet-load 1.5" (see bench/run.py --help).
BENCH_VENV := bench/.venv
BENCH_ARGS ?=
BENCH_BEFORE ?=
BENCH_PEERS ?=
export BENCH_PEERS  # the recipe passes it from the environment: its words and quotes reach bench/run.py whole
BENCH_CC := musl-gcc -static -Os -s -Wall -Wextra

.PHONY: bench bench-tools

bench: bench-tools bench/build/app bench/build/floor
	[ -x dist/sidecar-killer ] || $(MAKE) build
	build/setup/engine.sh
	$(BENCH_VENV)/bin/python bench/run.py $(if $(BENCH_BEFORE),--variant before=$(BENCH_BEFORE)) \
		$(if $(BENCH_PEERS),--peer "$$BENCH_PEERS") $(BENCH_ARGS)
	$(MAKE) soak

# `make soak`: the wrapper against a proxy that stays 503 for SOAK_MINUTES (RSS and fds flat, exit 69),
# and SOAK_JOBS jobs in a row (every code right, RSS flat). Part of `make bench`.
SOAK_MINUTES ?= 10
SOAK_JOBS ?= 1000
.PHONY: soak
soak:
	[ -x dist/sidecar-killer ] || $(MAKE) build
	$(PYTHON) bench/soak.py --binary dist/sidecar-killer --poll-minutes $(SOAK_MINUTES) --jobs $(SOAK_JOBS)

bench-tools: $(BENCH_VENV)/.installed
	@dpkg -s busybox-static >/dev/null 2>&1 && command -v musl-gcc >/dev/null && command -v unshare >/dev/null \
		&& command -v ip >/dev/null || apt-get install -y busybox-static musl-tools util-linux iproute2

$(BENCH_VENV)/.installed: bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q -r bench/requirements.txt
	touch $@

bench/build/%: bench/%.c
	@mkdir -p bench/build
	$(BENCH_CC) -o $@ $<
