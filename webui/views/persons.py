"""The person's page (all cases and plans the user may see, messages, next deadlines) and the person search by
personnummer. Need to know decides in engine.reads (a person the user may not see looks exactly like one who does
not exist), which also writes every view and every search to the access log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from engine.domain.errors import NotFound, ValidationFailed
from engine.reads.access_log import personnummer_field
from engine.reads.persons import NOT_FOUND
from webui.i18n import gettext as _
from webui.views import reads
from webui.views.auth import current_actor, login_required

bp = Blueprint("persons", __name__)


def _search_page(value: str = "", error: str | None = None, status: int = 200, message: str | None = None) -> Any:
    return render_template("person_search.html", value=value, error=error, message=message), status


@bp.get("/personer")
@login_required
def search_form() -> Any:
    return _search_page()


@bp.post("/personer/sok")
@login_required
def search() -> Any:
    """POST, so that the personnummer never stands in an address (server logs, history, Referer)."""
    value = (request.form.get("personnummer") or "").strip()
    try:
        personnummer = personnummer_field(value)
    except ValidationFailed as exc:
        return _search_page(value, exc.details["fields"]["personnummer"][0], 400)
    if personnummer is None:
        return _search_page(value, _("Fyll i ett personnummer."), 400)
    try:
        instance_id = reads().persons.search(current_actor(), personnummer)
    except NotFound:
        return _search_page(value, status=404, message=_(NOT_FOUND) + ".")
    return redirect(url_for("persons.person_page", instance_id=instance_id), code=303)


@bp.get("/personer/arende/<int:instance_id>")
@login_required
def person_page(instance_id: int) -> Any:
    show_pnr = request.args.get("visa") == "personnummer"
    try:
        person = reads().persons.by_case(current_actor(), instance_id, show_personnummer=show_pnr)
    except NotFound:
        return render_template("error.html", title=_("Personen finns inte"), message=_(NOT_FOUND) + "."), 404
    return render_template("person.html", p=person, show_pnr=show_pnr, instance_id=instance_id)
