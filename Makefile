# Set-up and entry points. `make train` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV ?= .venv
# torch is installed before the project so that the project's range (>=2.4,<3) installs nothing more.
# 2.13.0 is the CPU wheel on our machines; on other machines pip takes the normal PyPI build.
TORCH ?= torch==2.13.0
ENV ?= Walker2d
ARGS ?=
export MUJOCO_GL ?= egl

BIN := $(VENV)/bin

.PHONY: setup train test test-ray lint clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q "$(TORCH)"
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

# Ctrl-C: the script checkpoints and exits with status 130, which is a clean stop, not a make error.
# (`trap : INT` keeps this shell alive to read that status; the script itself still gets the Ctrl-C.)
# `make train ARGS='--resume --run-dir DIR'` continues a run: a resumed run keeps its own env, so
# --env is only passed to new runs.
TRAIN_ENV = $(if $(filter --resume,$(ARGS)),,--env $(ENV))
train: setup
	@echo "$(BIN)/python -m scripts.dream $(TRAIN_ENV) $(ARGS)"
	@trap : INT; $(BIN)/python -m scripts.dream $(TRAIN_ENV) $(ARGS); status=$$?; \
	if [ $$status -eq 130 ]; then exit 0; fi; exit $$status

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q $(ARGS)

# The tests marked `ray` (scripts.benchmark --backend ray, scripts.sweep), with the optional extra installed
# first. Not part of `make test` or CI: the extra adds several hundred MB of packages, and Ray's own
# processes, to a run on 2 cores; without Ray those tests are skipped.
$(VENV)/.installed-ray: pyproject.toml | $(VENV)/.installed
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[dev,ray]"
	touch $@

test-ray: $(VENV)/.installed-ray
	$(BIN)/python -m pytest -q -m ray $(ARGS)

clean-venv:
	rm -rf $(VENV)
