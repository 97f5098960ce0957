PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,service,postgres,kafka,clickhouse,e2e
# pytest-xdist workers: most slow tests wait (subprocesses, Kafka group joins, backoff), so
# more workers than cores pays off; PYTEST_WORKERS=0 runs in one process
PYTEST_WORKERS ?= 4

# The [ai] extra (ONNX model, Milvus Lite) goes into the same venv for the checks only: `make demo`
# never installs it; the stamp makes the install once per change of pyproject.toml.
AI_STAMP := $(VENV)/.ai-extra-installed

.PHONY: venv venv-ai demo test lint typecheck unit clean bench

$(BIN)/forgelens: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $(BIN)/forgelens

venv: $(BIN)/forgelens

$(AI_STAMP): $(BIN)/forgelens
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS),ai]"
	@touch $(AI_STAMP)

venv-ai: $(AI_STAMP)

demo: venv
	$(BIN)/forgelens demo

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	PYTHONPATH=src $(BIN)/lint-imports  # the layering contracts in pyproject.toml

typecheck: venv-ai
	$(BIN)/mypy

unit: venv-ai
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

test: lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
