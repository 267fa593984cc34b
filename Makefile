# tinylm: `make book` builds the rendered course, `make test` runs every check.
# Both set up .venv first (Python >= 3.10, Node/npm); nothing else is installed by hand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
JOBS   ?= 2

export PYDEVD_DISABLE_FILE_VALIDATION := 1
export NUMBA_CACHE_DIR := $(CURDIR)/.numba_cache

.PHONY: help setup book test lint unit kernels-nojit notebooks labs-check browser budget lab grade bench zoo clean

help:
	@echo "make book    set up .venv and build the HTML book into _build/html"
	@echo "make test    set up .venv and run every test"
	@echo "make lab     open the labs in JupyterLab"
	@echo "make grade LAB=labs/01-ngrams-lab.ipynb   grade a lab"
	@echo "make bench   run the benchmarks"
	@echo "make zoo     retrain the model zoo from its seeds, one model per core (~1½ hours)"

# ---- set-up ---------------------------------------------------------------------------
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# constraints.txt pins torch==2.13.0 (the local CPU build) and the tested versions
	$(PY) -m pip install --quiet -c constraints.txt -e '.[book,test,lab]'
	# xgrammar (an oracle of chapter 5) without triton, a 1 GB GPU compiler it does not use on
	# the CPU; its other requirements come with the test extra above
	$(PY) -m pip install --quiet -c constraints.txt --no-deps xgrammar
	touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(STAMP) $(NPM_STAMP)

# ---- the book -------------------------------------------------------------------------
# jupyter-cache re-runs a chapter only when its code cells change; it cannot see the package
# the chapters import. So when anything under src/tinylm is newer than the last build, the
# cached executions are dropped and every chapter runs again with the new package.
# --all re-reads unchanged pages (their executions stay cached), so -W sees every warning.
BUILT := _build/html/.tinylm-built
PACKAGE_FILES := $(shell find src/tinylm -type f -not -name '*.pyc' 2>/dev/null)
BOOK_FILES := _config.yml _toc.yml $(wildcard book/* labs/*.ipynb bench/results/*.json) \
	$(PACKAGE_FILES)

book: setup
	@if [ -f $(BUILT) ] && [ -n "$$(find src/tinylm -type f -not -name '*.pyc' -newer $(BUILT))" ]; \
	then echo "src/tinylm changed since the last build: the chapters execute again"; \
	     rm -rf _build/.jupyter_cache; fi
	$(BIN)/jupyter-book build . -W -n --keep-going --all
	touch $(BUILT)

# What the browser tests need: a build no older than its sources (make book always builds).
$(BUILT): $(BOOK_FILES)
	$(MAKE) book

# ---- tests ----------------------------------------------------------------------------
# make test runs these stages in order, every one even after a failure, and closes with a
# table of their wall times (tests/stages.py). Budget: 30 minutes on 2 cores.
STAGES := lint labs-check unit kernels-nojit notebooks book browser budget

test: setup
	$(PY) tests/stages.py $(STAGES)

lint: setup
	$(BIN)/ruff check .
	npx --no-install eslint

unit: setup
	$(BIN)/pytest -n $(JOBS) --dist loadfile -m "not browser and not budget" tests

kernels-nojit: setup
	NUMBA_DISABLE_JIT=1 $(BIN)/pytest -q tests/test_ngram_kernels.py tests/test_word2vec_kernels.py \
		tests/test_generation_kernels.py tests/test_bpe_kernels.py tests/test_structured_kernels.py \
		tests/test_speculative_kernels.py tests/test_fast_decoder_kernels.py

# Lab solutions must score full marks and unsolved labs must fail every graded cell. Book
# chapters are not run here: the -W book build executes them once and fails on a cell error.
notebooks: setup
	$(BIN)/pytest -n $(JOBS) --dist loadfile --nbval --nbval-current-env -p tinylm.grading.nbval_plugin \
		--notebook-times _build/nbval-times.json --color=no solutions labs

labs-check: setup
	$(BIN)/tinylm release --check

browser: setup $(BUILT)
	$(BIN)/pytest -m browser tests

# Every chapter and lab solution within its time budget, from the times recorded above.
budget: setup
	$(BIN)/pytest -q tests/test_budget.py

# ---- working on the course ------------------------------------------------------------
lab: setup
	$(BIN)/jupyter lab labs

grade: setup
	@test -n "$(LAB)" || (echo "usage: make grade LAB=labs/01-ngrams-lab.ipynb" && exit 2)
	$(BIN)/tinylm grade $(LAB)

# make bench runs every bench/*_bench.py; make bench ONLY=ngram (or ONLY=ngram,llama) runs those,
# and ARGS=--quick passes options to each.
bench: setup
	$(PY) bench/run.py $(ONLY) $(ARGS)

# Every zoo model from its fixed seed, one process with one torch thread per model, side by
# side (one thread each is also what makes a checkpoint reproducible byte for byte). The Medusa
# heads learn from base's hidden states, so they wait for base.
ZOO_MODELS := draft base deep medusa-base
zoo: setup
	$(MAKE) -j$(words $(ZOO_MODELS)) $(addprefix zoo-,$(ZOO_MODELS))

zoo-medusa-base: zoo-base

zoo-%: setup
	$(BIN)/tinylm zoo train $* --threads 1

clean:
	rm -rf _build .numba_cache
