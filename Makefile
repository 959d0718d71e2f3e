# Everything a fresh machine needs: `make train` and `make test`.
# Both create .venv and install the package (editable) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Extras to install: CI adds `reference` (the CPU PyTorch wheel the comparison tests use).
EXTRAS ?= test
SHARED_DATA := $(abspath ../shared/data)
# A development checkout reads the datasets from ../shared/data beside it, as CI does.
export SCRATCHNN_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA))

.PHONY: install data train test lint bench docs mutation mutation-sample clean

$(BIN)/scratchnn: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

install: $(BIN)/scratchnn

# Download (verified) any dataset the tests need that is found nowhere: not in
# $SCRATCHNN_DATA, the user cache or a system copy. Without network the tests
# that need it are skipped, and tests.py says so instead of claiming success.
data: install
	@$(BIN)/scratchnn download --if-missing mnist fashion-mnist || \
		echo "make: going on without it; the tests that need it will be skipped and listed" >&2

train: install
	$(BIN)/python train.py

test: data
	$(BIN)/python tests.py

# The checks CI runs besides the tests: ruff (lint and format) and mypy, as
# configured in pyproject.toml, with the versions the `lint` extra pins.
lint: install
	$(BIN)/python -m pip install --quiet -e ".[lint]"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/bench_training.py

# The documentation site, into site/ (open site/index.html: it needs no network). Strict:
# a warning fails the build, and so does a tutorial code block that raises (they all run).
docs: install
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Mutation testing of nn/ and training/ (not run in CI: hours on two cores).
# MUTMUT_CHILDREN limits the parallel test processes; results: mutmut results / mutmut browse.
MUTMUT_CHILDREN ?= 2
mutation: install
	OPENBLAS_NUM_THREADS=1 MPLBACKEND=Agg $(BIN)/mutmut run --max-children $(MUTMUT_CHILDREN)
	$(BIN)/mutmut export-cicd-stats
	cat mutants/mutmut-cicd-stats.json

# The same mutants, scored from a seeded uniform sample (about 30 minutes on one core for
# 400): the estimate and its 95% interval, each survivor re-run alone, the list of survivors.
MUTATION_SAMPLE ?= 400
MUTATION_SEED ?= 0
mutation-sample: install
	$(BIN)/python benchmarks/mutation_sample.py --size $(MUTATION_SAMPLE) --seed $(MUTATION_SEED) --children $(MUTMUT_CHILDREN)

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache mutants site dist build
