# The two commands: `make run` (Greenroom on this machine) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: install
	$(BIN)/greenroom dev

lint: install
	$(BIN)/ruff check server worker tests bench migrations
	$(BIN)/ruff format --check server worker tests bench migrations
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/run_sync.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
