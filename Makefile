# The two commands: `make run` (Greenroom on this machine) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint bench fuzz clean

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

# Four test processes: most tests wait on real processes (API, workers, actors), not on the CPU.
# Two while callables could hang at their fork; then three (7 min 7 s and 7 min 15 s against 8 min
# 29 s with two). As the suite grew, three took 13 min 43 s on this 2-core kind and four 12 min 7 s
# (2026-12-07, the same checkout, one after the other; the CPU busy 57% and 62% of the time).
# `--dist worksteal` was tried with three: 15 min 26 s and 10% more CPU against 14 min 50 s.
test: lint
	$(BIN)/pytest -n 4

bench: install
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/versus.py

# Many random bad requests per implemented endpoint (Apify's OpenAPI): no 500s, nothing changed;
# then schemathesis on the same spec (both generation modes), which prints its request and 5xx counts.
fuzz: install
	GREENROOM_SOAK=1 $(BIN)/pytest -m soak tests/contract/test_fuzz.py tests/contract/test_schemathesis.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
