# Two entry points: `make demo` runs the main job, `make test` runs lint + tests.
# Both create .venv/ and install the pinned dependency set (constraints.txt) when needed.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export DVC_NO_ANALYTICS := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-fast lint format clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,ray]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/mllmcl demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The suite runs in TEST_WORKERS processes (pytest-xdist; a test module stays on one worker, so its
# fixtures are built once); each worker's torch gets one thread, so the workers share the cores.
TEST_WORKERS ?= 2
PYTEST := OMP_NUM_THREADS=1 $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadscope

test: lint
	$(PYTEST)

test-fast: lint
	$(PYTEST) -m "not integration"

clean:
	rm -rf sources .mllmcl-staging
