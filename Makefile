# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: run test lint typecheck install install-test bench soak isso model screenshots clean

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

## Benchmarks (give them a quiet machine; compare.py alone ~20 minutes on 2 cores): duyet side by side with the
## aiohttp ceiling and Isso (bench/compare.py), memory (bench/memory.py), then every other bench
## script. compare.py and memory.py update their sections of BENCHMARKS.md. BENCH_SOAK=1 adds the soak.
BENCH_CACHE := .bench-cache
ISSO_VENV   := $(BENCH_CACHE)/isso-venv
bench: $(TSTAMP) isso
	$(BIN)/python bench/compare.py
	$(BIN)/python bench/memory.py
	for f in bench/*.py; do case $$f in bench/compare.py|bench/memory.py|bench/soak.py|bench/served.py) ;; \
	  *) $(BIN)/python $$f || exit 1;; esac; done
	if [ -n "$(BENCH_SOAK)" ]; then $(BIN)/python bench/soak.py --minutes 10; fi

## Ten minutes of steady submissions and moderators deciding: memory flat beyond the data, no error.
soak: $(TSTAMP)
	$(BIN)/python bench/soak.py --minutes 10

## Isso in a virtualenv of its own, for bench/compare.py (which goes on without it if this fails).
isso:
	@test -x $(ISSO_VENV)/bin/isso || { $(PYTHON) -m venv $(ISSO_VENV) && $(ISSO_VENV)/bin/pip install -q isso; } \
	  || echo "Isso could not be installed: bench/compare.py goes on without it"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
