# mailproc: two commands for a new user on a fresh Debian machine.
#   make demo   sets up .venv, installs mailproc, processes the sample mailbox
#   make test   installs what the tests need (Dovecot, Postfix's test programs when root) and
#               runs every test
#   make bench  the performance table against baselines measured in the same run (< 15 min;
#               bench-quick: same rows, smaller counts, < 3 min); BENCH_ARGS="--json FILE"
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-unit test-integration bench bench-quick system-packages venv clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11+ is needed: apt-get install python3 python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/mailproc demo

system-packages:
	@bash tests/install-system-packages.sh

test: $(STAMP) system-packages
	$(BIN)/python -m pytest -q tests/unit tests/integration

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

test-integration: $(STAMP) system-packages
	$(BIN)/python -m pytest -q tests/integration

bench: $(STAMP) system-packages
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

bench-quick: $(STAMP) system-packages
	$(BIN)/python -m tests.bench --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data build *.egg-info .pytest_cache
