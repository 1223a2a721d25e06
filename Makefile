# The two commands of the README: `make demo` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench bench-bot clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(VENV)/.runtime $@

## demo: write the report of the embedded demo data to out/demo/
demo: $(VENV)/.runtime
	$(BIN)/report --demo --output out/demo

## test: install everything the tests need (Debian packages included), lint, check the import contracts, run every test
test: $(VENV)/.test
	./scripts/install-system-deps.sh
	$(BIN)/ruff check reports tests bench
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(VENV)/.test
	$(BIN)/ruff check reports tests bench
	$(BIN)/ruff format --check reports tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) out

## bench: the benchmark of issue 7 (about 7 minutes); --write updates docs/benchmarks.md
bench: $(VENV)/.test
	$(BIN)/python -m bench.run --write

## bench-bot: the bot's answer times against cold runs (issue 21, about 5 minutes); prints its table
bench-bot: $(VENV)/.test
	$(BIN)/python -m bench.bot
