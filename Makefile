# Two entry points for a fresh machine: `make demo` and `make test`. Each creates .venv if
# it is missing and installs the package with its test extras from this repository's files.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-full luts bench bench-peers clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/compvqc demo

test: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -n 2

test-full: $(STAMP)
	COMPVQC_FULL=1 $(BIN)/python -m pytest -q -m slow

# Rebuild the prebuilt LUTs in lut/ with the package's own builder.
luts: $(STAMP)
	$(BIN)/compvqc lut build --all --out lut

# Peers (TorchQuantum, PennyLane with JAX, qiskit-machine-learning) live in their own venv, never in
# ours. BENCH_ARGS picks cases and rounds, e.g. BENCH_ARGS="--cases main,q8,q12 --rounds 5".
PEERS := .venv-peers
BENCH_ARGS ?=
bench-peers: $(STAMP)
	@test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet -e .
	$(PEERS)/bin/python -m pip install --quiet torch==2.13.0
	$(PEERS)/bin/python -m pip install --quiet -r benchmarks/requirements-peers.txt
	$(PEERS)/bin/python -m pip install --quiet --no-deps torchquantum-ng==0.2.0 torchpack==0.3.1
	$(PEERS)/bin/python benchmarks/simulator.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
