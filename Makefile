# The two set-up commands of the README:
#   make run    broker, topics, worker and connectors with a demo case (Ctrl-C to stop)
#   make test   every test tier against a real Kafka broker the suite starts itself
# Both create .venv and install the project on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-unit lint bench bench-connectors bench-stream clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ehcp dev

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy ehcp connectors streams cli workspace notify
	$(BIN)/lint-imports

test-unit: $(STAMP)
	$(BIN)/pytest -m "not integration and not e2e"

bench: $(STAMP)
	$(BIN)/python bench/restart_soak.py

bench-connectors: $(STAMP)
	$(BIN)/python bench/connector_throughput.py

bench-stream: $(STAMP)
	$(BIN)/python bench/stream_throughput.py

clean:
	-$(BIN)/ehcp kafka stop
	rm -rf .ehcp
