"""The staff web pages (Swedish): sign-in, worklist, task page, person page, access log. Server-rendered Jinja pages
that work without JavaScript; htmx swaps the same partials in place.

`register_views(app)` is called by create_app. Conventions: every view reads patient data through engine.reads (need to
know and the access log are applied there, never here) and changes through engine.commands.runtime; no query and no
session in
a view.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, render_template, request, session

from engine.domain.clock import STOCKHOLM
from engine.jobs.notifications import Notifications
from engine.reads import Reads
from engine.reads.worklist import COUNT_CAP, Worklist
from webui.i18n import N_, gettext, grouped_text
from webui.shared import (  # noqa: F401  (the pages' helpers, shared with the API)
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    accounts,
    current_actor_or_none,
    platform,
    platform_of,
    web_sessions,
)

WEEKDAYS = (N_("mån"), N_("tis"), N_("ons"), N_("tor"), N_("fre"), N_("lör"), N_("sön"))


def worklist() -> Worklist:
    return platform().worklist


def process_names() -> dict[str, str]:
    """Process id -> the process's name, for pages that list cases."""
    return worklist().process_names()


def reads() -> Reads:
    """Every read of patient data (engine/reads): need to know applied and the access log written there."""
    return platform().reads


def notifications() -> Notifications:
    return platform().notifications


NOTICE_INTERVAL = timedelta(seconds=60)
_notices_done: dict[tuple[int, str], tuple[datetime, float]] = {}


def refresh_notices(notes: Notifications, clock: Any, user: Any, force: bool = False) -> None:
    """Turn the user's new and overdue tasks into notices, unless done within NOTICE_INTERVAL of both the platform's
    clock (a simulated clock moves in jumps) and the wall clock."""
    now, wall = clock.now(), time.monotonic()
    key = (id(notes), user.username)
    last = _notices_done.get(key)
    recent = last is not None and abs(now - last[0]) < NOTICE_INTERVAL and wall - last[1] < NOTICE_INTERVAL.seconds
    if recent and not force:
        return
    _notices_done[key] = (now, wall)
    notes.refresh(user)


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


class CsrfFailed(Exception):
    """A form without the session's CSRF token: refused with a page that says so (400), nothing changed."""


def _check_csrf() -> None:
    """Every state-changing request to a page (not the bearer-token API) carries the session's token."""
    if request.method in SAFE_METHODS or request.blueprint == "api" or request.path.startswith("/api/"):
        return
    if request.endpoint is None:
        return
    expected = session.get("csrf")
    given = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not expected or not hmac.compare_digest(str(expected).encode(), str(given).encode()):
        raise CsrfFailed()


def local_time(value: datetime | None, with_day: bool = True) -> str:
    if value is None:
        return ""
    local = value.astimezone(STOCKHOLM)
    text = local.strftime("%Y-%m-%d %H:%M")
    return f"{gettext(WEEKDAYS[local.weekday()])} {text}" if with_day else text


def relative_due(value: datetime | None, now: datetime | None = None) -> str:
    """'om 3 tim', 'försenad 2 dagar': beside the time, so that nobody has to count. `now`: the platform's time, when
    the caller has it already (a list reads it once, not once per row)."""
    if value is None:
        return ""
    delta = value - (now if now is not None else platform().clock.now())
    seconds = abs(delta.total_seconds())
    if seconds < 3600:
        amount = gettext("%(n)s min", n=max(1, int(seconds // 60)))
    elif seconds < 2 * 86400:
        amount = gettext("%(n)s tim", n=int(seconds // 3600))
    else:
        amount = gettext("%(n)s dagar", n=int(seconds // 86400))
    if delta < timedelta(0):
        return gettext("försenad %(amount)s", amount=amount)
    return gettext("om %(amount)s", amount=amount)


def count_text(value: int) -> str:
    """A count as shown: '1 234'; above the worklist's counting cap, '1 000+'."""
    if value > COUNT_CAP:
        return f"{grouped_text(COUNT_CAP)}+"
    return grouped_text(value)


def register_views(app: Flask) -> None:
    from webui import i18n, labels
    from webui.views import audit, auth, language, notices, persons, pilots, tasks, worklist_pages

    # The session cookie as docs/authentication.md states it: its name, and no longer than the session's absolute
    # lifetime (the server ends it then in any case; engine/commands/sessions.py). Flask's own defaults ("session", 31
    # days)
    # are overridden here, not merely defaulted.
    app.config["SESSION_COOKIE_NAME"] = "samflode_session"
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=platform_of(app).settings.session_hours)
    app.before_request(_check_csrf)

    @app.errorhandler(CsrfFailed)
    def _csrf_failed(exc: CsrfFailed) -> tuple[str, int]:
        return render_template("csrf_error.html"), 400

    app.register_blueprint(auth.bp)
    app.register_blueprint(worklist_pages.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(persons.bp)
    app.register_blueprint(notices.bp)
    app.register_blueprint(language.bp)
    from webui.views import monitoring  # /overvakning: instances, their diagrams, repairs, heat maps

    app.register_blueprint(monitoring.bp)
    app.register_blueprint(pilots.bp)
    i18n.init_app(app)
    labels.init_app(app)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        user = current_actor_or_none()
        unread = 0
        if user is not None and not request.headers.get("HX-Request"):
            # Only a read: page renders never write. The notices are synced by the `notifications` job (queued by
            # the scheduler every minute, engine/jobs/notifications.py) and at sign-in (a POST).
            unread = notifications().unread_count(user.username)
        return {
            "csrf_token": csrf_token,
            "current_user": user,
            "can_audit": user is not None and platform().policy.can_audit(user),
            "can_monitor": user is not None and platform().policy.can_monitor(user),
            "can_view_pilots": user is not None and platform().policy.can_view_pilots(user),
            "unread_notifications": unread,
        }

    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(relative_due, "relative_due")
    app.add_template_filter(count_text, "count_text")

    from webui import headers

    headers.init_app(app)  # nosniff everywhere, the Content-Security-Policy on every page

    from webui.views import modeller

    modeller.register(app)  # /modellera for process owners, with its own `can_model` for the menu

    from webui.views import version_pages

    version_pages.register(app)  # /migreringar and /simuleringar for the implementation team, `can_change_versions`

    from webui.views import reports_pages

    reports_pages.register(app)  # /rapporter: the figures, with `can_read_figures` for the menu
