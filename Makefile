# The two commands that matter: `make book` and `make test`.
# Each creates or updates the virtual environment in .venv on first use (uv, or pip: UV= below).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BUILD  := _build
# DATA: a folder holding dev_data/ (and eval_data/) of the real DCASE 2021 Task 2
# data. Empty: the book runs on synthetic data that it generates first.
DATA    ?=
PROFILE ?= book
SETTINGS ?= book
SEED    ?= 0
# RESULTS: a results.csv gathered by `asdlib run`, for the results chapter to show (empty: run there)
RESULTS ?=
# EVAL_RESULTS: the eval/results.csv of a grid run on the evaluation set, shown beside the poster's challenge table
EVAL_RESULTS ?=
# JOBS: chapters executed at once (empty: the builder's default, two; the results are the same either way)
JOBS ?=

.PHONY: book test lab venv data results clean

venv: $(STAMP)

# UV: the installer of the pinned set, itself installed into the environment first: uv installs and compiles
# it in 1.7 minutes where pip takes 4 (measured on the 2-core machine, both downloading everything).
# Compiled to bytecode at install, as pip does: where PYTHONDONTWRITEBYTECODE is set, every process would
# otherwise compile torch's modules again. When uv cannot be installed or fails, pip installs the same pins;
# `make test UV=` always uses pip.
UV ?= uv==0.13.9

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if [ -n "$(UV)" ] && $(PY) -m pip install --quiet --disable-pip-version-check "$(UV)" && \
	  $(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -r requirements.txt; then \
	  echo "installed requirements.txt with $(UV)"; \
	else \
	  [ -z "$(UV)" ] || echo "make: uv could not install requirements.txt; installing with pip" >&2; \
	  $(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt; \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

## make book: execute every chapter with papermill and render the book into _build/html
##   (synthetic data by default, or DATA=/path/to/dcase; SETTINGS=paper for the official settings;
##   RESULTS=grid-out/results.csv: the results chapter shows what `asdlib run` gathered)
book: $(STAMP)
ifneq ($(strip $(DATA)),)
	@test -d "$(DATA)/dev_data" || test -d "$(DATA)/eval_data" || \
	  { echo "make book: DATA=$(DATA) holds no dev_data/ or eval_data/ folder" >&2; exit 2; }
endif
	$(VENV)/bin/asdlib book --out $(BUILD) --profile $(PROFILE) --settings $(SETTINGS) --seed $(SEED) \
	  $(if $(strip $(DATA)),--data "$(DATA)") $(if $(strip $(RESULTS)),--set results_table="$(abspath $(RESULTS))") \
	  $(if $(strip $(EVAL_RESULTS)),--set eval_table="$(abspath $(EVAL_RESULTS))") \
	  $(if $(strip $(JOBS)),--jobs $(JOBS)) --set progress=False

## make test: the unit tests and the end-to-end smoke run, one test file per CPU core at a time
##   (pytest-xdist; the smoke build of the book is the longest file, about 5 minutes on two cores)
test: $(STAMP)
	$(PY) -m pytest -n auto --dist loadfile

## make lab: JupyterLab on the chapters (notebooks/), the project's environment as their kernel;
##   a chapter makes the synthetic data it needs on first run (as make book does, into _build/data)
##   and is saved without its outputs (asdlib.notebooks.lab_pre_save)
##   LAB_FLAGS: further JupyterLab options, e.g. LAB_FLAGS="--no-browser --port 8899"
LAB_FLAGS ?=
lab: $(STAMP)
	$(VENV)/bin/asdlib lab $(LAB_FLAGS)

## make results: the book's two grids on its synthetic data (hours on two CPU cores; minutes on a GPU machine:
##   bench/gpu-grid.sh), resumed from what _build/grid-book* holds, and their gathered tables copied into
##   results/book/, where the results chapter reads them
GATHERED := results.csv results.md scores.csv cells.csv grid.json
results: $(STAMP)
	$(VENV)/bin/asdlib run grids/book.yml --out $(BUILD)/grid-book
	$(VENV)/bin/asdlib run grids/book-compact.yml --out $(BUILD)/grid-book-compact
	mkdir -p results/book/authors results/book/compact
	for f in $(GATHERED); do cp $(BUILD)/grid-book/$$f results/book/authors/ && \
	  cp $(BUILD)/grid-book-compact/$$f results/book/compact/; done

## make data: only write the synthetic data set
data: $(STAMP)
	$(VENV)/bin/asdlib synth --out $(BUILD)/data --profile $(PROFILE) --seed $(SEED)

clean:
	rm -rf $(BUILD)
