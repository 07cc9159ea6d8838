# sidecar-killer: `make demo` runs a local pod, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: venv test unit

venv: $(VENV)/.installed
$(VENV)/.installed: tests/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r tests/requirements.txt
	$(PY) -m pip install -q -e .
	touch $@

# The whole suite.
test: venv
	$(PY) -m pytest

# Unit and process tests of the Python entrypoint only (no Docker, no build).
unit: venv
	$(PY) -m pytest tests --ignore=tests/docker
