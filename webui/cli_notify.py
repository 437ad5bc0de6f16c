"""`samflode notify`: sync every user's notifications of new and overdue tasks and send the e-mails (SMTP when
SAMFLODE_SMTP_HOST is set). Meant for cron or a systemd timer every few minutes."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_notify(args: argparse.Namespace) -> int:
    from webui.cli import _platform

    p = _platform()
    try:
        notifications = p.notifications
        added = notifications.refresh_all(p.directory)
        mailed = notifications.send_email()
    finally:
        p.close()  # a leaked connection is a ResourceWarning, and an error under filterwarnings=error
    print(json.dumps({"nya_notiser": added, "skickade_epost": mailed}, ensure_ascii=False))
    return 0


def add_commands(sub: Any) -> None:
    sub.add_parser("notify", help="skapa notiser om nya och försenade uppgifter och skicka e-post").set_defaults(
        func=cmd_notify
    )
