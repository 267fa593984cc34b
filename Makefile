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
export MPLBACKEND := Agg

.PHONY: help setup book test lint unit kernels-nojit notebooks labs-check browser lab grade bench zoo clean

help:
	@echo "make book    set up .venv and build the HTML book into _build/html"
	@echo "make test    set up .venv and run every test"
	@echo "make lab     open the labs in JupyterLab"
	@echo "make grade LAB=labs/01-ngrams-lab.ipynb   grade a lab"
	@echo "make bench   run the benchmarks"
	@echo "make zoo     retrain the model zoo from its seeds, one model per core (~1 hour)"

# ---- set-up ---------------------------------------------------------------------------
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# constraints.txt pins torch==2.13.0 (the local CPU build) and the tested versions
	$(PY) -m pip install --quiet -c constraints.txt -e '.[book,test,lab]'
	touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(STAMP) $(NPM_STAMP)

# ---- the book -------------------------------------------------------------------------
# --all re-reads unchanged pages (their executions stay cached), so -W sees every warning
book: setup
	$(BIN)/jupyter-book build . -W -n --keep-going --all

# ---- tests ----------------------------------------------------------------------------
lint: setup
	$(BIN)/ruff check .

unit: setup
	$(BIN)/pytest -n $(JOBS) --dist loadfile -m "not browser" tests

kernels-nojit: setup
	NUMBA_DISABLE_JIT=1 $(BIN)/pytest -q tests/test_ngram_kernels.py tests/test_word2vec_kernels.py \
		tests/test_generation_kernels.py

notebooks: setup
	$(BIN)/pytest -n $(JOBS) --dist loadfile --nbval --nbval-current-env -p tinylm.grading.nbval_plugin \
		--color=no book solutions labs

labs-check: setup
	$(BIN)/tinylm release --check

browser: book
	$(BIN)/pytest -m browser tests

test: lint labs-check unit kernels-nojit notebooks browser

# ---- working on the course ------------------------------------------------------------
lab: setup
	$(BIN)/jupyter lab labs

grade: setup
	@test -n "$(LAB)" || (echo "usage: make grade LAB=labs/01-ngrams-lab.ipynb" && exit 2)
	$(BIN)/tinylm grade $(LAB)

bench: setup
	$(PY) bench/ngram_bench.py
	$(PY) bench/word2vec_bench.py
	$(PY) bench/llama_bench.py
	$(PY) bench/generation_bench.py

# Every zoo model from its fixed seed, one process with one torch thread per model, side by
# side (one thread each is also what makes a checkpoint reproducible byte for byte).
ZOO_MODELS := draft base
zoo: setup
	$(MAKE) -j$(words $(ZOO_MODELS)) $(addprefix zoo-,$(ZOO_MODELS))

zoo-%: setup
	$(BIN)/tinylm zoo train $* --threads 1

clean:
	rm -rf _build .numba_cache
