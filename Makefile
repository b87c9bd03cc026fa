# leadscore — the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LEADSCORE := $(VENV)/bin/leadscore
LEADS ?= 5000

.PHONY: venv demo test test-fast bench notebooks clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --prefer-binary -c constraints.txt -e '.[dev]'
	touch $@

## The main job on the embedded defaults: sample CRM -> SQLite (data/), train + promote both
## models (mlruns/), then serve them on 127.0.0.1:3000 (Ctrl-C stops).
demo: venv
	$(LEADSCORE) demo --leads $(LEADS)

## The whole test suite (what CI runs).
test: venv
	$(PY) -m pytest -n 2 --dist loadgroup

test-fast: venv
	$(PY) -m pytest -n 2 -m "not slow"

## Speed, memory and quality figures (printed; slow: tens of minutes).
bench: venv
	$(PY) benchmarks/bench_generate.py --leads 100000
	$(PY) benchmarks/bench_store_load.py --leads 100000
	$(PY) benchmarks/bench_features.py
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_serving.py --requests 2000
	$(PY) benchmarks/bench_ui.py --leads 10000
	$(PY) benchmarks/bench_forecast_backtest.py
	$(PY) benchmarks/bench_reports.py --leads 100000
	$(PY) benchmarks/bench_scale.py

clean:
	rm -rf data/ mlruns/artifacts mlruns/*.db .pytest_cache
