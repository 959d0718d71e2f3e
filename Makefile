# Everything a fresh machine needs: `make train` and `make test`.
# Both create .venv and install the package (editable) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED_DATA := $(abspath ../shared/data)
# Tests read the datasets from ../shared/data when it exists, never the network.
export SCRATCHNN_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA))

.PHONY: install train test bench mutation clean

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

# Mutation testing of nn/ and training/ (not run in CI: hours on two cores).
# MUTMUT_CHILDREN limits the parallel test processes; results: mutmut results / mutmut browse.
MUTMUT_CHILDREN ?= 2
mutation: install
	OPENBLAS_NUM_THREADS=1 MPLBACKEND=Agg $(BIN)/mutmut run --max-children $(MUTMUT_CHILDREN)
	$(BIN)/mutmut export-cicd-stats
	cat mutants/mutmut-cicd-stats.json

clean:
	rm -rf $(VENV) runs .pytest_cache mutants
