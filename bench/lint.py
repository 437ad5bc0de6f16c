"""Check (lint and parse) time of big generated BPMN files, to show it grows linearly with the file:

    .venv/bin/python bench/lint.py [--megabytes 5] [--runs 3]

Shapes: `flat` (one long sequence of tasks), `siblings` (many sub-processes side by side, each with a few tasks),
`nested` (sub-processes inside sub-processes as deep as the safe XML parser allows, the rest as siblings), and
`conditions` (exclusive gateways with conditions and timers to check). For each shape the file is made at a quarter,
half and the full size; the time per MB should stay about the same (linear), and the full size must check in under
2 s (issue 13). The checked file is not executable when `--lint-only` is given (SpiffWorkflow's own parser is then
skipped). Prints seconds and seconds per MB for each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.bpmn.parsing import parse_document  # noqa: E402

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" '
    'targetNamespace="http://samflode.se/bench">\n'
)


def _chain(prefix: str, count: int) -> tuple[list[str], str, str]:
    """`count` tasks in a sequence inside one container: (xml lines, first id, last id)."""
    lines = [f'<bpmn:task id="{prefix}_t0" name="Uppgift" />']
    for i in range(1, count):
        lines.append(f'<bpmn:task id="{prefix}_t{i}" name="Uppgift {i}" />')
        lines.append(
            f'<bpmn:sequenceFlow id="{prefix}_f{i}" sourceRef="{prefix}_t{i - 1}" targetRef="{prefix}_t{i}" />'
        )
    return lines, f"{prefix}_t0", f"{prefix}_t{count - 1}"


def _fan_out(branch: Callable[[int], tuple[list[str], str, str]], size: int, per_branch: int, condition: bool) -> str:
    """start -> a split gateway -> as many branches as fit in `size` -> a joining gateway -> end. Wide, not long:
    SpiffWorkflow's parser follows a sequence recursively, so a chain of a thousand elements is refused whatever
    its size (a finding, not a crash); a big real diagram is wide."""
    kind = "inclusiveGateway" if condition else "parallelGateway"
    body = [f'<bpmn:{kind} id="split" />', f'<bpmn:{kind} id="join" />']
    for b in range(max(1, size // per_branch)):
        lines, first, last = branch(b)
        body.extend(lines)
        if condition:
            body.append(f'<bpmn:sequenceFlow id="in{b}" sourceRef="split" targetRef="{first}">')
            body.append(f"<bpmn:conditionExpression>varde &gt; {b} and not stopp</bpmn:conditionExpression>")
            body.append("</bpmn:sequenceFlow>")
        else:
            body.append(f'<bpmn:sequenceFlow id="in{b}" sourceRef="split" targetRef="{first}" />')
        body.append(f'<bpmn:sequenceFlow id="out{b}" sourceRef="{last}" targetRef="join" />')
    return "\n".join(
        [
            HEAD,
            '<bpmn:process id="stor" isExecutable="true">',
            '<bpmn:startEvent id="start" />',
            *body,
            '<bpmn:endEvent id="end" />',
            '<bpmn:sequenceFlow id="in" sourceRef="start" targetRef="split" />',
            '<bpmn:sequenceFlow id="ut" sourceRef="join" targetRef="end" />',
            "</bpmn:process>",
            "</bpmn:definitions>",
        ]
    )


def _sub(sid: str, inner: list[str], first: str, last: str) -> list[str]:
    return [
        f'<bpmn:subProcess id="{sid}">',
        f'<bpmn:startEvent id="{sid}_start" />',
        *inner,
        f'<bpmn:endEvent id="{sid}_end" />',
        f'<bpmn:sequenceFlow id="{sid}_in" sourceRef="{sid}_start" targetRef="{first}" />',
        f'<bpmn:sequenceFlow id="{sid}_ut" sourceRef="{last}" targetRef="{sid}_end" />',
        "</bpmn:subProcess>",
    ]


def flat(size: int) -> str:
    return _fan_out(lambda b: _chain(f"a{b}", 3), size, 560, condition=False)


def conditions(size: int) -> str:
    return _fan_out(lambda b: _chain(f"c{b}", 3), size, 700, condition=True)


def siblings(size: int) -> str:
    def branch(b: int) -> tuple[list[str], str, str]:
        lines, first, last = _chain(f"s{b}", 4)
        return _sub(f"s{b}", lines, first, last), f"s{b}", f"s{b}"

    return _fan_out(branch, size, 1100, condition=False)


def nested(size: int, depth: int = 60) -> str:
    """Branches of sub-processes nested `depth` deep (the safe XML parser allows 256 levels of elements)."""

    def branch(b: int) -> tuple[list[str], str, str]:
        inner: list[str] = []
        for d in reversed(range(depth)):
            sid = f"n{b}_{d}"
            lines, first, last = _chain(sid, 2)
            if inner:
                lines = [
                    *lines,
                    *inner,
                    f'<bpmn:sequenceFlow id="{sid}_x" sourceRef="{last}" targetRef="n{b}_{d + 1}" />',
                ]
                last = f"n{b}_{d + 1}"
            inner = _sub(sid, lines, first, last)
        return inner, f"n{b}_0", f"n{b}_0"

    return _fan_out(branch, size, depth * 900, condition=False)


SHAPES = {"flat": flat, "conditions": conditions, "siblings": siblings, "nested": nested}


def timed(xml: bytes, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds (CPU too: on a machine shared with other work, wall time says more about the
    neighbours than about the code)."""
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        doc = parse_document(xml)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        if doc.errors:
            raise SystemExit(f"the generated file did not check: {doc.errors[0].message}")
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shape", choices=sorted(SHAPES), action="append")
    parser.add_argument("--lint-only", action="store_true", help="mark the process not executable (no Spiff parse)")
    args = parser.parse_args()
    full = int(args.megabytes * 1024 * 1024) - 4096
    print(f"{'shape':<12}{'size MB':>9}{'wall s':>9}{'CPU s':>9}{'CPU s/MB':>10}")
    for name in args.shape or list(SHAPES):
        for fraction in (0.25, 0.5, 1.0):
            wanted = int(full * fraction)
            xml = SHAPES[name](wanted).encode()
            xml = SHAPES[name](int(0.98 * wanted * wanted / len(xml))).encode()  # the sizes are estimates
            if args.lint_only:
                xml = xml.replace(b'isExecutable="true"', b'isExecutable="false"')
            wall, cpu = timed(xml, args.runs)
            megabytes = len(xml) / 1024 / 1024
            print(f"{name:<12}{megabytes:>9.2f}{wall:>9.2f}{cpu:>9.2f}{cpu / megabytes:>10.2f}")


if __name__ == "__main__":
    main()
