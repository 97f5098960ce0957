PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,service,postgres,kafka,clickhouse,e2e
# pytest-xdist workers: most slow tests wait (subprocesses, Kafka group joins, backoff), so
# more workers than cores pays off; PYTEST_WORKERS=0 runs in one process
PYTEST_WORKERS ?= 4

.PHONY: venv demo test lint typecheck unit clean bench

$(BIN)/forgelens: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $(BIN)/forgelens

venv: $(BIN)/forgelens

demo: venv
	$(BIN)/forgelens demo

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

test: lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
