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

.PHONY: help setup instance demo browser test lint format dev daemon bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups --compile-bytecode
	$(BIN)/python -m project.lib.extensions
	@touch $@

setup: $(VENV)/.synced ## create .venv from uv.lock (exact pinned versions)

instance: setup ## render the Dagster instance config into $$DAGSTER_HOME
	@$(BIN)/python -m project.lib.instance

demo: instance ## start the PNCP simulator, materialize every asset, print where results are
	$(BIN)/python -m project.demo

# Test data lives in the checkout, not in the shared /tmp/pytest-of-$USER/pytest-N: another
# pytest session on the machine prunes the oldest numbered dirs, which would delete a
# long-running test's warehouse under it.
TEST_TMP    ?= $(CURDIR)/.pytest_tmp

# The browser test drives Debian's Chromium (Playwright's own browser download is not used).
CHROMIUM    ?= /usr/bin/chromium

browser: ## Debian's Chromium for the browser test: installed when missing (as root)
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing Debian's chromium for the browser test (a minute or two)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi; \
	if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$CI" = true ]; then \
		echo "make: CI=true needs $(CHROMIUM) for the browser test (apt-get install chromium, as root)" >&2; \
		exit 1; \
	fi; \
	echo "make: no $(CHROMIUM), so the browser test will skip (sudo apt-get install chromium)" >&2

# `make test` is lint first, then the suite: a broken architecture contract fails CI with the
# offending import named, before any test runs.
test: setup browser lint ## lint, then the whole test suite with coverage (needs the local PostgreSQL and MariaDB)
	@CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -n 2 --dist loadgroup --durations=15 --basetemp=$(TEST_TMP) \
		--cov=project --cov-report=term-missing:skip-covered --cov-fail-under=80; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$status

lint: setup ## ruff lint + format check + architecture contracts (import-linter, pyproject)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

format: setup ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

dev: instance ## Dagster UI on http://127.0.0.1:3000 (with the daemon)
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

daemon: instance ## the Dagster daemon alone (schedules, sensors, run queue)
	$(BIN)/dagster-daemon run -w workspace.yaml $(if $(filter json,$(LOG_FORMAT)),--log-format json)

bench: setup ## run every benchmark under bench/
	$(BIN)/python -m bench

clean: ## remove generated data, the local instance and the environments
	rm -rf $(VENV) .uv .duckdb_extensions .dagster_home data/warehouse.duckdb* data/exports dbt_project/target
