# Everything a fresh machine needs: `make train` and `make test`.
# Both create .venv and install the package (editable) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED_DATA := $(abspath ../shared/data)
# Tests read the datasets from ../shared/data when it exists, never the network.
export SCRATCHNN_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA))

.PHONY: install train test bench clean

$(BIN)/scratchnn: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/scratchnn

train: install
	$(BIN)/python train.py

test: install
	$(BIN)/python tests.py

bench: install
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/bench_training.py

clean:
	rm -rf $(VENV) runs .pytest_cache
