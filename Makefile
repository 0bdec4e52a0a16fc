# Two commands for a fresh machine: `make demo` and `make test` (both create .venv and install first).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all bench results install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,data,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/recnets train char-lm --demo

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	$(PY) -m pytest -q -m ''

bench: $(STAMP)
	$(PY) benchmarks/bench_rnn.py
	$(PY) benchmarks/bench_reservoir.py
	$(PY) benchmarks/bench_trees.py
	$(PY) benchmarks/bench_ntm.py
	$(PY) benchmarks/bench_decode.py
	$(PY) benchmarks/bench_cells.py
	$(PY) benchmarks/bench_long_sequences.py

results: $(STAMP)
	$(PY) -m recnets.results docs/results.md

clean:
	rm -rf $(VENV) runs
