# FerroGate developer commands. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= Ferrogate/Caddyfile
PYTEST_ARGS ?=

.PHONY: run test lint bench system-deps venv clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/ferrogate run --config $(CONFIG)

# System packages the tests and benchmarks use: nginx (fast mock upstream),
# wrk (load), caddy (reference Caddyfile adapter), redis-server (cluster counters).
system-deps:
	@bash scripts/system-deps.sh

test: $(STAMP) system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check ferrogate tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP) system-deps
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
