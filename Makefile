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

BENCH_DIR ?= runs/bench

# Every benchmark writes its JSON; report.py prints one table of every ratio against its anchor and goal. With
# CUDA, the cuDNN-relative figures are taken too.
bench: $(STAMP)
	mkdir -p $(BENCH_DIR) && rm -f $(BENCH_DIR)/*.json
	$(PY) benchmarks/bench_rnn.py --json $(BENCH_DIR)/rnn.json
	$(PY) benchmarks/bench_reservoir.py --json $(BENCH_DIR)/reservoir.json
	$(PY) benchmarks/bench_trees.py --json $(BENCH_DIR)/trees.json
	$(PY) benchmarks/bench_ntm.py --json $(BENCH_DIR)/ntm.json
	$(PY) benchmarks/bench_decode.py --json $(BENCH_DIR)/decode.json
	$(PY) benchmarks/bench_cells.py --json $(BENCH_DIR)/cells.json
	$(PY) benchmarks/bench_long_sequences.py --json $(BENCH_DIR)/long_sequences.json
	@if $(PY) -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then \
	  echo "CUDA found: cuDNN-relative figures"; \
	  $(PY) benchmarks/bench_rnn.py --device cuda --hidden 256 1024 --batch 32 256 --json $(BENCH_DIR)/rnn-cuda.json && \
	  $(PY) benchmarks/bench_cells.py --device cuda --json $(BENCH_DIR)/cells-cuda.json && \
	  $(PY) benchmarks/bench_long_sequences.py --device cuda --json $(BENCH_DIR)/long_sequences-cuda.json; \
	fi
	$(PY) benchmarks/report.py $(BENCH_DIR)

results: $(STAMP)
	$(PY) -m recnets.results docs/results.md

clean:
	rm -rf $(VENV) runs
