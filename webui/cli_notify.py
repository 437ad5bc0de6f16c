"""`samflode notify`: sync every user's notifications of new and overdue tasks and send the e-mails (SMTP when
SAMFLODE_SMTP_HOST is set). The work is the `notifications` background job (engine/jobs/notifications.py), which a
running scheduler queues every minute by itself; this command queues one and runs it at once in this process, for
installations that run it from cron or a systemd timer instead."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, cast


def cmd_notify(args: argparse.Namespace) -> int:
    from engine.jobs.notifications import JOB_KIND, NotificationJob
    from webui.cli import _platform

    p = _platform()
    try:
        handler = cast(NotificationJob, p.jobs.kinds[JOB_KIND].run)
        handler.last = {}
        p.jobs.submit(JOB_KIND, unique_key=f"periodic:{JOB_KIND}")
        p.jobs.run_available([JOB_KIND])
        if not handler.last:
            failed = p.jobs.recent(limit=1, kind=JOB_KIND)
            reason = failed[0]["last_error"] if failed else ""
            print(f"Notiserna synkades inte: {reason or 'en omgång körs redan i en annan process'}", file=sys.stderr)
            return 1
    finally:
        p.close()  # a leaked connection is a ResourceWarning, and an error under filterwarnings=error
    print(json.dumps(handler.last, ensure_ascii=False))
    return 0


def add_commands(sub: Any) -> None:
    sub.add_parser("notify", help="skapa notiser om nya och försenade uppgifter och skicka e-post").set_defaults(
        func=cmd_notify
    )
