"""The OMG BPMN MIWG reference files, kept beside the repository (../shared/bpmn-corpus/miwg-reference).

Tests that need them skip when the folder is absent on a laptop and fail in CI (CI=true), where it must be there."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import PROJECT_ROOT
from tests.conftest import IN_CI

MIWG_DIR = PROJECT_ROOT.parent / "shared" / "bpmn-corpus" / "miwg-reference"

# The MIWG files that deploy as executable processes; every other one is stored as a documentation-only model.
# Most of the others are drawings (isExecutable="false") or use FEEL/Java-style conditions and empty timers.
EXECUTABLE = {"C.9.1.bpmn"}


def miwg_files() -> list[Path]:
    if not MIWG_DIR.is_dir():
        if IN_CI:
            pytest.fail(f"CI must have the MIWG reference files in {MIWG_DIR}")
        pytest.skip(f"needs the MIWG reference files in {MIWG_DIR}")
    files = sorted(MIWG_DIR.glob("*.bpmn"))
    assert files, f"no .bpmn files in {MIWG_DIR}"
    return files
