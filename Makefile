# The two commands: `make run` (try it) and `make test` (the whole suite, as CI runs it).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint typecheck pytest services chromium bench soak screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: $(BIN)/python requirements/runtime.txt pyproject.toml
	$(BIN)/python -m pip install -q -r requirements/runtime.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements/dev.txt
	$(BIN)/python -m pip install -q -r requirements/dev.txt
	touch $@

## run: install the runtime, migrate, load the demo once and serve on http://127.0.0.1:8000
run: $(VENV)/.runtime
	$(BIN)/xtrack db upgrade
	$(BIN)/xtrack demo
	$(BIN)/xtrack serve

## test: dev tools, local services, then ruff, import layers, mypy and pytest
test: $(VENV)/.dev services chromium lint typecheck pytest

services:
	@scripts/ensure-services.sh

chromium:
	@scripts/ensure-chromium.sh

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev
	$(BIN)/mypy

# tests/run_count.py (loaded by tests/conftest.py) turns a green run red when fewer tests ran than
# were collected or any was skipped, so the count printed here is the count that ran.
pytest: $(VENV)/.dev
	$(BIN)/pytest -n 2 --dist loadgroup

## screenshots: run the browser tests and refresh the README images in docs/screenshots/
screenshots: $(VENV)/.dev chromium
	scripts/screenshots.sh

bench: $(VENV)/.dev services
	$(BIN)/python -m bench

## soak: the chaos soak (docs/guarantees.md): 2,000 jobs for 10 minutes on its own PostgreSQL and
## Redis while processes, the broker and the database are killed; SOAK_ARGS="--minutes 2 --jobs 200"
## or SOAK_ARGS="--broker amqp://guest:guest@127.0.0.1:5672//" to change it
soak: $(VENV)/.dev
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
