# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: run test lint typecheck install install-test bench model screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(TSTAMP): $(STAMP)
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: $(STAMP)
install-test: $(TSTAMP)

## Start the service: embedded Valkey in ./data, the shipped model, URLs printed.
run: $(STAMP)
	$(BIN)/duyet serve $(ARGS)

## The whole suite: lint, architecture contracts, types, tests (real Valkey, real HTTP, real Chromium).
test: $(TSTAMP) lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(TSTAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check service tests bench
	$(BIN)/lint-imports

typecheck: $(TSTAMP)
	$(BIN)/mypy service

## Retrain the shipped model from the seed corpus (reproducible).
model: $(STAMP)
	$(BIN)/duyet train

## Refresh the README's screenshots (the browser tests, saving into docs/screenshots).
screenshots: $(TSTAMP)
	DUYET_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/test_ui_browser.py tests/test_widget_browser.py

bench: $(TSTAMP)
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
