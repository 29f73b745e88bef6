# dagron developer commands. `make help` lists them.
# Everything runs inside .venv, which `make install` creates from scratch on a fresh clone.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deps-stamp
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install build demo test test-rust test-python lint bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "maturin>=1.7,<2" "cloudpickle>=3.0" "msgpack>=1.0" "pyzmq>=26.0" "psutil>=5.9" "tqdm>=4.66" \
		"pytest>=8" "pytest-xdist>=3.5" "pytest-timeout>=2.3" "hypothesis>=6.100" "numpy>=1.26" "ruff>=0.6" "mypy>=1.11" \
		"distributed>=2024.1"
	touch $(STAMP)

install: build ## Create .venv, install dependencies, build the Rust extension (release)

build: $(STAMP) ## Build the extension in release mode into .venv
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --quiet

demo: install ## Set up everything and run the seed's ETL pipelines on worker processes
	$(PY) examples/etl.py --backend processes
	$(PY) examples/cpu_batch.py

test: install lint test-rust test-python ## Set up everything; lint, then every test (Rust and Python)

test-rust: ## Rust tests: the core's unit, integration and doc tests, the bindings' unit tests
	cargo test --release -p dagron-core --quiet
	PYO3_PYTHON=$(abspath $(PY)) cargo test --release -p dagron-py --lib --quiet

test-python: ## Python tests in parallel (pytest-xdist)
	$(PY) -m pytest -n auto $(PYTEST_ARGS)

lint: install ## ruff, mypy, cargo fmt --check, clippy -D warnings, stubs against the built module
	$(VENV)/bin/ruff check dagron tests bench examples
	$(VENV)/bin/ruff format --check dagron tests bench examples
	$(PY) -m mypy
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(PY) -m mypy.stubtest dagron._core

# ray ships wheels for some Python versions only: when it cannot be installed its rows say why.
bench: install ## Every benchmark (graph, executor, processes, import, user code) against its peers
	$(PY) -m pip install --quiet "networkx>=3.2" "rustworkx>=0.15" "dask>=2024.1" "loky>=3.4" "joblib>=1.3"
	-$(PY) -m pip install --quiet "ray>=2.9"
	$(PY) bench/graph_bench.py
	$(PY) bench/executor_bench.py
	$(PY) bench/processes_bench.py
	$(PY) bench/import_bench.py
	$(PY) bench/user_code_bench.py

clean: ## Remove the virtualenv and build products
	rm -rf $(VENV) target
