"""Notifications of new and overdue tasks: the list page and marking as read (engine.jobs.notifications)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from webui.i18n import gettext as _
from webui.views import notifications
from webui.views.auth import current_actor, login_required

bp = Blueprint("notifications", __name__)


@bp.get("/notiser")
@login_required
def index() -> Any:
    return render_template("notifications.html", items=notifications().recent(current_actor().username))


@bp.post("/notiser/<int:notification_id>/last")
@login_required
def mark_read(notification_id: int) -> Any:
    notifications().mark_read(current_actor().username, notification_id)
    if request.headers.get("HX-Request"):
        return ""
    return redirect(url_for("notifications.index"), code=303)


@bp.post("/notiser/lasta")
@login_required
def mark_all_read() -> WerkzeugResponse:
    notifications().mark_read(current_actor().username)
    flash(_("Alla notiser är markerade som lästa."), "ok")
    return redirect(url_for("notifications.index"), code=303)
