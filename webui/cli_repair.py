"""`samflode repair-poisoned [--fix]`: list the cases poisoned before the data boundary existed (data with NaN or
serializer markers, a state that does not restore) and, with --fix, repair what can be repaired (audited; what
cannot becomes an incident for the coordinators). engine/commands/poisoned.py does the work."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_repair_poisoned(args: argparse.Namespace) -> int:
    from webui.cli import CLI_ACTOR, _platform

    p = _platform()
    cases = p.poisoned
    findings = cases.repair(CLI_ACTOR) if args.fix else list(cases.scan())
    for finding in findings:
        print(json.dumps(finding.as_dict(), ensure_ascii=False))
    unrepairable = sum(1 for f in findings if f.unrepairable)
    verb = "lagade" if args.fix else "hittade"
    print(f"{len(findings)} förgiftade ärenden {verb}; {unrepairable} kan inte lagas automatiskt")
    return 0 if args.fix or not findings else 1


def add_commands(sub: Any) -> None:
    repair = sub.add_parser(
        "repair-poisoned", help="visa (och med --fix laga) ärenden med data eller tillstånd som inte kan läsas"
    )
    repair.add_argument("--fix", action="store_true", help="laga det som går (granskningsloggat)")
    repair.set_defaults(func=cmd_repair_poisoned)
