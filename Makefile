# Every target installs what it needs into .venv first (only python3 is assumed).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ENV ?= prod
ARGS ?=
# Test workers (pytest-xdist); each worker starts its own private MariaDB server.
JOBS ?= 2

.PHONY: plan test engine lint typecheck check bench install clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## The main job: the offline plan (no AWS account, no Pulumi CLI). `make plan ENV=dev ARGS=--json`
plan: $(VENV)/.installed
	$(VENV)/bin/infra plan --env $(ENV) $(ARGS)

## The whole test suite, every tier (MariaDB tests start their own server; install it with
## `apt-get install -y mariadb-server` where it is missing).
test: $(VENV)/.installed
	$(PY) -m pytest -n $(JOBS) $(ARGS)

## The real Pulumi engine for the real-engine test tier (`pytest -m real_engine`): the CLI and its
## Python language host built from the Go module proxy at the versions pinned in tools/engine/
## (go.mod/go.sum), cached per version under ${XDG_CACHE_HOME:-~/.cache}/aurora-global-infra/engine
## and linked into .tools/pulumi. Skipped when the pinned binaries are already there. Needs Go.
engine:
	tools/engine/build.sh

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

check: lint typecheck test

bench: $(VENV)/.installed
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info .tools
