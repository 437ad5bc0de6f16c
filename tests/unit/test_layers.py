"""The house's layer contracts (pyproject.toml [tool.importlinter], docs/architecture.md), checked with import-linter:
webui -> engine and never back, only engine.bpmn imports SpiffWorkflow, engine.domain is pure, engine's packages in
layers without cycles, the API and the staff pages apart. A failure names the broken contract and the imports that
break it. Migrations are no package, so their one rule (no engine code but the models) is checked here directly."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from engine.config import PROJECT_ROOT

importlinter = pytest.importorskip("importlinter.api")  # the dev dependency; `make setup` installs it

PYPROJECT = PROJECT_ROOT / "pyproject.toml"
MIGRATIONS = PROJECT_ROOT / "engine" / "persistence" / "migrations" / "versions"
RUN = "from importlinter.cli import lint_imports_command; lint_imports_command()"


@cache
def lint() -> subprocess.CompletedProcess[str]:
    """`lint-imports` as a developer runs it, without its cache, wide enough that no contract's name wraps."""
    return subprocess.run(
        [sys.executable, "-c", RUN, "--config", str(PYPROJECT), "--no-cache"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "1000", "NO_COLOR": "1", "TERM": "dumb"},
        timeout=300,
    )


def test_every_layer_contract_is_kept() -> None:
    result = lint()
    lines = result.stdout.splitlines()
    broken = [line.split(" BROKEN")[0] for line in lines if " BROKEN" in line]
    assert broken == [], "broken import contracts: " + "; ".join(broken) + "\n\n" + result.stdout
    assert result.returncode == 0, result.stdout + result.stderr  # e.g. a contract that could not be read
    kept = [line for line in lines if " KEPT" in line]
    assert len(kept) == len(importlinter.read_configuration(str(PYPROJECT))["contracts_options"]), result.stdout


def test_the_contracts_are_all_checked() -> None:
    ids = {c["id"] for c in importlinter.read_configuration(str(PYPROJECT))["contracts_options"]}
    assert {
        "engine-never-imports-webui",
        "only-bpmn-imports-spiff",
        "domain-is-pure",
        "engine-layers",
        "api-and-views-apart",
        "no-sibling-cycles",
    } <= ids


def test_the_spiffworkflow_contract_names_every_part_of_engine_but_bpmn() -> None:
    """A new package of engine is checked too: the contract lists engine's top-level modules by name."""
    contract = next(
        c
        for c in importlinter.read_configuration(str(PYPROJECT))["contracts_options"]
        if c["id"] == "only-bpmn-imports-spiff"
    )
    engine = PROJECT_ROOT / "engine"
    parts = {f"engine.{p.stem}" for p in engine.glob("*.py") if p.stem != "__init__"}
    parts |= {f"engine.{p.name}" for p in engine.iterdir() if (p / "__init__.py").is_file()}
    assert parts - {"engine.bpmn"} <= set(contract["source_modules"])


def engine_imports(path: Path) -> set[str]:
    """Every engine module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "engine"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "engine":
            found.add(node.module)
    return found


def test_migrations_import_no_engine_code() -> None:
    """A migration changes the schema and moves data with SQL; it never runs today's engine (the facts of old cases
    are rebuilt by `samflode rebuild-facts`), and its column types are frozen in the file, not the models' of today.
    (env.py, which is no migration, hands the models' metadata to Alembic's autogenerate.)"""
    files = sorted(MIGRATIONS.glob("*.py"))
    assert files
    assert {p.name: found for p in files if (found := engine_imports(p))} == {}
