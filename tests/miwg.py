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


def vendor_variants(path: Path) -> dict[str, bytes]:
    """What vendors' exports of a MIWG reference file do that libxml2 refuses and bpmn-js opens (issue 15): a
    wrongly declared encoding (Windows-1252 bytes declared as UTF-8, and UTF-8 declared with a name that does not
    exist), a namespace URI with spaces, and, for a file with a collaboration, only the collaboration (pools
    without their processes)."""
    import re

    from lxml import etree

    raw = path.read_bytes()
    declared = re.search(rb'encoding="([^"]+)"', raw[:200])
    text = raw.decode(declared.group(1).decode() if declared else "utf-8")
    text = re.sub(r"(<\?xml[^>]*?encoding=)\"[^\"]+\"", r'\1"UTF-8"', text, count=1)
    if not text.lstrip("\ufeff").startswith("<?xml"):
        text = '<?xml version="1.0" encoding="UTF-8"?>\n' + text
    named = re.sub(r'(<[\w:]*definitions\b[^>]*?\sname=")', r"\1Väntelista – ", text, count=1)
    if named == text:
        named = re.sub(r"(<[\w:]*definitions\b)", r'\1 name="Väntelista – åäö"', text, count=1)
    variants = {
        "latin1-declared-utf8": named.encode("cp1252", errors="replace"),
        "unknown-encoding": re.sub(r'encoding="UTF-8"', 'encoding="Cp1252x"', named, count=1).encode("utf-8"),
        "namespace-with-spaces": re.sub(
            r"(<[\w:]*definitions\b)", r'\1 xmlns:leverantor="http://www.example.com/min modell/1.0"', named, count=1
        ).encode("utf-8"),
    }
    root = etree.fromstring(named.encode("utf-8"))
    model = "http://www.omg.org/spec/BPMN/20100524/MODEL"
    if root.find(f"{{{model}}}collaboration") is not None:
        for process in root.findall(f"{{{model}}}process"):
            root.remove(process)
        for participant in root.iter(f"{{{model}}}participant"):
            participant.attrib.pop("processRef", None)
        variants["collaboration-only"] = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return variants
