# Samflöde: `make run` sets up and runs the platform with demo data on SQLite; `make test` sets up and runs the tests.
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
FRONTEND = webui/static/build/modeller.js

.PHONY: setup run demo test lint typecheck pytest screenshots bench clean

setup: $(VENV)/.installed node_modules/.installed $(FRONTEND)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# The modeller's front end (bpmn-js, the properties panel, our provider) bundled by esbuild into webui/static/build/
# (gitignored, never committed): `make setup` and so `make run` / `make test` build it on a fresh clone.
$(FRONTEND): node_modules/.installed package.json $(wildcard webui/frontend/modeller/*)
	npm run --silent build

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The platform on SQLite (instance/samflode.db) on the simulated clock: on a new database the demo lives three months
# of cases first (completed cases for the figures, overdue ones, an incident, a running pilot, a finished
# simulation; webui/demo_story.py), then prints the demo users and what to try. `make demo` is the small demo only.
DEMO_CLOCK = SAMFLODE_CLOCK=simulated SAMFLODE_SIMULATED_START=2025-10-13T08:00:00+02:00
run: setup
	$(DEMO_CLOCK) $(BIN)/samflode demo --historik
	$(DEMO_CLOCK) $(BIN)/samflode serve --host $(HOST) --port $(PORT)

demo: setup
	$(BIN)/samflode demo

lint: setup
	$(BIN)/ruff check engine webui tests bench
	$(BIN)/ruff format --check engine webui tests bench

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest -q

# SQLite by default; TEST_DATABASE_URL=postgresql://... runs the same suite on PostgreSQL.
test: lint typecheck pytest

# The browser tests again, saving their screenshots under docs/ (an ordinary run keeps them in a temporary folder).
screenshots: setup
	SAMFLODE_SCREENSHOTS=1 $(BIN)/pytest -q tests/e2e

bench: setup
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache *.egg-info webui/static/build
