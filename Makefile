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

# Three test processes: most tests wait on real processes (API, workers, actors), not on the CPU.
# (Two while callables could hang at their fork; with that fixed, three ran clean twice here,
# 7 min 7 s and 7 min 15 s against 8 min 29 s with two.) `--dist worksteal` was tried: pytest 423 s
# and 503 s, against 439-490 s in five runs with the default distribution; no clear gain.
test: lint
	$(BIN)/pytest -n 3

bench: install
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/versus.py

# Many random bad requests per implemented endpoint (Apify's OpenAPI): no 500s, nothing changed;
# then schemathesis on the same spec (both generation modes), which prints its request and 5xx counts.
fuzz: install
	GREENROOM_SOAK=1 $(BIN)/pytest -m soak tests/contract/test_fuzz.py tests/contract/test_schemathesis.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
