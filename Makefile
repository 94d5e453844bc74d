# depthrep: every target sets up .venv itself when it is missing.
#   make book [PROFILE=ci|laptop|workstation|paper] [JOBS=n]   execute the notebooks (n at a time) and build the book
#   make test                                     lint, unit tests, notebooks at `ci` scale, book, browser test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= laptop
# Notebooks at once: two one-thread kernels finish the `ci` and `laptop` books sooner on 2 cores
# than one two-thread kernel (the rerun page has the times); `paper` runs one at a time on its GPU.
JOBS ?= $(if $(filter paper,$(PROFILE)),1,2)
# Unit tests in two worker processes (pytest-xdist): on two cores they finish sooner than one.
TEST_WORKERS ?= 2
EXECUTED := build/notebooks
STAMP := $(VENV)/.installed

.PHONY: setup precision lint unit notebooks vendor book book-html browser test test-slow clean

setup: $(STAMP)

# Free disk (GB) a new .venv needs: torch 2.14.1 for x86_64 is a CUDA build, and its NVIDIA
# libraries and Triton are 4 of the 6.2 GB measured (`du -sh .venv`), needed even on a CPU.
VENV_GB ?= 7

$(STAMP): pyproject.toml
	@test -x $(PY) || { \
	  free=$$(df -Pk "$$(dirname $(VENV))" | awk 'NR == 2 { print int($$4 / 1048576) }'); \
	  if [ "$$free" -lt $(VENV_GB) ]; then \
	    echo "setup: $$free GB free for $(VENV), which needs about $(VENV_GB) GB (torch with its CUDA libraries):"; \
	    echo "       free some space, or put it on a larger disk: make VENV=/path/to/.venv ..."; exit 1; fi; \
	  $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q -e ".[book,widgets,cluster,test]"
	@touch $@

lint: $(STAMP)
	$(PY) -m ruff check depthrep tests benchmarks
	$(PY) -m ruff format --check depthrep tests benchmarks

unit: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not browser and not executed" --durations=15 -n $(TEST_WORKERS)

# Execute every notebook with papermill at $(PROFILE) into $(EXECUTED), $(JOBS) at a time;
# fails on a failed claim. `make test` runs two at once: at `ci` sizes two one-thread kernels
# get more from 2 cores than one two-thread kernel.
# Inversions are kept in results/ of the model cache and read back by the next run, and a chapter
# unchanged since its last run is not run again: RUN_FLAGS=--fresh computes everything again,
# --no-store keeps nothing (`make test`: the tests exercise the engine, never the store).
RUN_FLAGS ?=
notebooks: $(STAMP)
	$(PY) -m depthrep book --profile $(PROFILE) --out $(EXECUTED) --jobs $(JOBS) $(RUN_FLAGS)

# MathJax, require.js and the ipywidgets manager from npm (package-lock.json) into
# build/static/offline, so the built book works offline; without npm the book uses CDNs.
vendor: $(STAMP)
	$(PY) book/vendor.py

# Render the executed notebooks and the prose into _build/html (never re-executes).
book-html: vendor
	@test -f $(EXECUTED)/summary.json || { echo "book-html: nothing executed in $(EXECUTED): run 'make notebooks' first"; exit 1; }
	rm -rf _build/html _build/.doctrees _build/jupyter_execute
	$(VENV)/bin/jupyter-book build --all -W --keep-going .

book: notebooks book-html
	@echo "The book ($(PROFILE) profile) is in _build/html: open file://$(CURDIR)/_build/html/index.html"

browser: $(STAMP)
	$(PY) -m pytest -q -m browser

# Each stage starts with a time stamp, so a slow run shows where its time went.
STAGE = @echo "== $$(date -u +%T) $(1)"

precision: $(STAMP)
	@$(PY) -m depthrep precision

test: $(STAMP)
	$(call STAGE,precision)
	@$(PY) -m depthrep precision
	$(call STAGE,lint)
	@$(MAKE) --no-print-directory lint
	$(call STAGE,unit tests)
	@$(MAKE) --no-print-directory unit
	$(call STAGE,notebooks at ci)
	@$(MAKE) --no-print-directory notebooks PROFILE=ci JOBS=2 RUN_FLAGS=--no-store
	$(call STAGE,claims)
	@DEPTHREP_EXECUTED=$(EXECUTED) $(PY) -m pytest -q -m executed
	$(call STAGE,book)
	@$(MAKE) --no-print-directory book-html
	$(call STAGE,browser)
	@$(MAKE) --no-print-directory browser
	$(call STAGE,done)

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

clean:
	rm -rf _build build .pytest_cache .ruff_cache
