# The project's task runner. A fresh machine needs only python3 (3.11) and the package
# registry: `make demo` and `make test` create everything else.

PYTHON      ?= python3
UV_VERSION  := 0.13.8
UV          := .uv/bin/uv
VENV        := .venv
BIN         := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export UV_PYTHON := $(PYTHON)
# Let Python cache bytecode of the project itself (some machines disable it globally).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help setup instance demo test lint format dev daemon bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups --compile-bytecode
	@touch $@

setup: $(VENV)/.synced ## create .venv from uv.lock (exact pinned versions)

instance: setup ## render the Dagster instance config into $$DAGSTER_HOME
	@$(BIN)/python -m project.lib.instance

demo: instance ## start the PNCP simulator, materialize every asset, print where results are
	$(BIN)/python -m project.demo

test: setup ## run the whole test suite (needs the local PostgreSQL and MariaDB)
	@$(BIN)/python -m pytest -n 2; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

lint: setup ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

dev: instance ## Dagster UI on http://127.0.0.1:3000 (with the daemon)
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

daemon: instance ## the Dagster daemon alone (schedules, sensors, run queue)
	$(BIN)/dagster-daemon run -w workspace.yaml

bench: setup ## run every benchmark under bench/
	$(BIN)/python -m bench

clean: ## remove generated data, the local instance and the environments
	rm -rf $(VENV) .uv .dagster_home data/warehouse.duckdb* data/exports dbt_project/target
