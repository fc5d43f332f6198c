# FerroGate developer commands. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= Ferrogate/Caddyfile
PYTEST_ARGS ?=
# pytest processes for `make test`, each taking whole test files (their module fixtures stay in one process)
TEST_WORKERS ?= 2

LOCK := requirements/lock.txt
RUNTIME_LOCK := requirements/runtime-lock.txt

.PHONY: run test lint audit lock secrets-baseline bench system-deps venv compiled clean image

# Dependencies come from the hash-locked $(LOCK) (every file checked against its hash), the
# build backend too. The lock is complete, so nothing is resolved again (--no-deps): pip's resolver
# would look past a pin reached through an extra (pip-audit's CacheControl[filecache]) to the
# newest release and refuse it as unpinned; `pip check` then proves the set consistent.
# FerroGate itself is installed editable on top with that locked setuptools (no build
# isolation, which would fetch an unpinned one) and without resolving anything again.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-deps --require-hashes -r $(LOCK)
	$(PY) -m pip check
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Re-resolve the lock from pyproject.toml's ranges (run after changing a dependency).
lock: $(STAMP)
	$(VENV)/bin/pip-compile -q --generate-hashes --no-emit-index-url --no-emit-find-links \
		--extra dev --build-deps-for editable --strip-extras --allow-unsafe -o $(LOCK) pyproject.toml
	# The container image's runtime dependencies alone, at the same versions (started from the full lock).
	cp $(LOCK) $(RUNTIME_LOCK)
	$(VENV)/bin/pip-compile -q --generate-hashes --no-emit-index-url --no-emit-find-links \
		--strip-extras --allow-unsafe -o $(RUNTIME_LOCK) pyproject.toml

# The container image (needs a Docker daemon); see Dockerfile and deploy/.
image:
	docker build -t ferrogate:latest .

# pip-audit against the lock, detect-secrets against .secrets.baseline, unused dependencies.
audit: $(STAMP)
	PY=$(PY) bash scripts/audit.sh

# Re-scan the tree into .secrets.baseline, keeping earlier reviews. Then mark each new entry
# with `.venv/bin/detect-secrets audit .secrets.baseline`: test dummies stay in the baseline as
# false positives (not excluded by path), and make audit fails on any entry left unreviewed.
secrets-baseline: $(STAMP)
	git ls-files -z | xargs -0 $(PY) -m detect_secrets scan --baseline .secrets.baseline

venv: $(STAMP)

# mypyc-compiled hot path (.so next to each module listed in scripts/compiled_modules.txt).
# Rebuilt only when a listed source or the build script changes; a missing compiler
# or a failed build prints one line and leaves pure Python in place.
COMPILED_MANIFEST := ferrogate/_compiled_manifest.json
COMPILED_STAMP := build/mypyc/done
COMPILED_SRC := $(shell sed -e 's/\#.*//' scripts/compiled_modules.txt)

$(COMPILED_STAMP): scripts/compiled_modules.txt scripts/build_compiled.py $(COMPILED_SRC) ferrogate/ipc/_shm_mutex.c ferrogate/governance/_counter_ops.c ferrogate/cache/_ring_ops.c ferrogate/cache/_canonical_json.c ferrogate/ai/_json_top.c ferrogate/_fastpath/_sse_relay.c ferrogate/observability/_otlp_fields.c ferrogate/ipc/_batch_sums.c ferrogate/_fastpath/_hex_ids.c ferrogate/_fastpath/_bytes_search.c ferrogate/_fastpath/_head_fields.c ferrogate/_fastpath/_number_bytes.c ferrogate/ipc/shm_mutex_lock.h | $(STAMP)
	$(PY) scripts/build_compiled.py

compiled: $(COMPILED_STAMP)

run: $(STAMP) $(COMPILED_STAMP)
	$(VENV)/bin/ferrogate run --config $(CONFIG)

# System packages the tests and benchmarks use: nginx (fast mock upstream),
# wrk (load), caddy (reference Caddyfile adapter), redis-server (cluster counters),
# prometheus (promtool and a real scraper), chromium (the dashboard's browser tests).
system-deps:
	@bash scripts/system-deps.sh
	@bash scripts/mcp-conformance.sh

test: $(STAMP) system-deps $(COMPILED_STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check ferrogate tests benchmarks scripts
	$(VENV)/bin/mypy

# The wrk suites with 6 s runs, then the at-scale suites at reduced size: ~13 min in all on a
# quiet 2-core box (benchmarks.run waits up to 10 s before each run for a busy box to quieten).
bench: $(STAMP) system-deps $(COMPILED_STAMP)
	$(PY) -m benchmarks.run --duration 6

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build $(COMPILED_MANIFEST)
	find ferrogate -name '*.so' -delete
