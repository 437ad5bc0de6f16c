"""`samflode jobs`: the background jobs (engine/jobs/queue.py) as the operator sees them: counts per state, the
newest jobs (or only the failed ones) with their attempts and last error, as JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_jobs(args: argparse.Namespace) -> int:
    from webui.cli import _platform

    p = _platform()
    try:
        out = {
            "antal": p.jobs.counts(),
            "hälsa": p.jobs.health(),
            "jobb": p.jobs.recent(limit=args.limit, status=args.status),
        }
    finally:
        p.close()
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def add_commands(sub: Any) -> None:
    jobs = sub.add_parser("jobs", help="visa bakgrundsjobben (simuleringar, notiser): antal, senaste, misslyckade")
    jobs.add_argument("--status", choices=("queued", "running", "done", "failed"), default=None)
    jobs.add_argument("--limit", type=int, default=20)
    jobs.set_defaults(func=cmd_jobs)
