# Two commands: `make run` and `make test`. Each sets everything up first
# (virtual environment, pinned dependencies, the package with its native
# engine) and a second call reinstalls nothing that has not changed.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
NATIVE_SOURCES := $(wildcard ops/engine/*.cc ops/engine/*.h ops/bindings/*.cc ops/tf/*.cc)
# Quiet TF start-up for the CLI; tests set their own environment in conftest.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup run test test-long clean

setup: $(VENV)/.package-stamp

$(VENV)/.requirements-stamp: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.txt
	touch $@

$(VENV)/.package-stamp: $(VENV)/.requirements-stamp setup.py $(NATIVE_SOURCES)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

run: setup
	$(PY) -m rlgraph_xflow.run configs/quickstart.yaml

# The suite without the checks marked long; test-long runs those (CI runs both).
test: setup
	$(PY) -m pytest -m "not long" tests

test-long: setup
	$(PY) -m pytest -m long tests

clean:
	rm -rf $(VENV) build *.egg-info ops/*.so
