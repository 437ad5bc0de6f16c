"""Issue 13: checking a few MB of nested sub-processes took minutes of CPU (the lint was quadratic). The work is
asserted as counts, not wall time: each element is indexed a bounded number of times however deep it is nested."""

from __future__ import annotations

import sys
from pathlib import Path

from lxml import etree

from engine.bpmn import parsing

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import lint as bench_lint  # noqa: E402


def _indexed_counts(xml: bytes, monkeypatch) -> tuple[int, int]:
    indexed = []
    original = parsing._ProcessParser._index_process_nodes

    def counting(self):
        original(self)
        indexed.append(len(self.nodes_by_id))

    monkeypatch.setattr(parsing._ProcessParser, "_index_process_nodes", counting)
    doc = parsing.parse_document(xml)
    assert doc.executable, doc.errors
    with_id = sum(1 for el in etree.fromstring(xml).iter() if isinstance(el.tag, str) and el.get("id"))
    return sum(indexed), with_id


def test_nested_sub_processes_are_indexed_once_each_not_once_per_level(monkeypatch):
    xml = bench_lint.nested(400_000, depth=40).encode()
    indexed, elements = _indexed_counts(xml, monkeypatch)
    # Before: every sub-process's parser indexed everything below it again (about depth/2 times each element).
    assert indexed <= 2 * elements, (indexed, elements)


def test_the_work_grows_linearly_with_the_number_of_sub_processes(monkeypatch):
    small, small_elements = _indexed_counts(bench_lint.siblings(200_000).encode(), monkeypatch)
    large, large_elements = _indexed_counts(bench_lint.siblings(800_000).encode(), monkeypatch)
    assert large / small <= 1.2 * large_elements / small_elements


def test_unreachable_check_visits_each_element_once():
    """The unreachable-element check used to scan every element for each sub-process (quadratic)."""
    xml = bench_lint.siblings(300_000).encode().replace(b'isExecutable="true"', b'isExecutable="false"')
    calls = 0

    class Counting(dict):
        def values(self):  # type: ignore[override]
            nonlocal calls
            calls += 1
            return super().values()

    original = parsing._collect_elements

    def counted(*args, **kwargs):
        return Counting(original(*args, **kwargs))

    import pytest

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parsing, "_collect_elements", counted)
        parsing.parse_document(xml, process_id="stor")
    assert calls < 20, calls  # a handful of passes, not one per sub-process
