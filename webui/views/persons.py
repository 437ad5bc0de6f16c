"""The person's page (all cases and plans the user may see, messages, next deadlines) and the person search by
personnummer. Need to know decides; a person the user may not see looks exactly like one who does not exist. Every
view and every search is written to the access log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from engine.access import personnummer_field
from engine.domain.errors import NotFound, ValidationFailed
from engine.persons import NOT_FOUND, PersonOverview
from webui.views import access_log, need_to_know, platform
from webui.views.auth import current_actor, login_required

bp = Blueprint("persons", __name__)


def overview() -> PersonOverview:
    p = platform()
    return PersonOverview(p.db, p.catalog, p.clock, need_to_know())


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
    actor = current_actor()
    value = (request.form.get("personnummer") or "").strip()
    try:
        personnummer = personnummer_field(value)
    except ValidationFailed as exc:
        return _search_page(value, exc.details["fields"]["personnummer"][0], 400)
    if personnummer is None:
        return _search_page(value, "Fyll i ett personnummer.", 400)
    try:
        ids = overview().find(actor, personnummer)
    except NotFound:
        access_log().record(actor, "person_sok", [(personnummer, None)], "ingen träff")
        return _search_page(value, status=404, message=NOT_FOUND + ".")
    access_log().record(actor, "person_sok", [(personnummer, i) for i in ids], "träff")
    return redirect(url_for("persons.person_page", instance_id=ids[-1]), code=303)


@bp.get("/personer/arende/<int:instance_id>")
@login_required
def person_page(instance_id: int) -> Any:
    actor = current_actor()
    try:
        personnummer = overview().personnummer_of_case(actor, instance_id)
        person = overview().load(actor, personnummer)
    except NotFound:
        return render_template("error.html", title="Personen finns inte", message=NOT_FOUND + "."), 404
    show_pnr = request.args.get("visa") == "personnummer"
    access_log().record(
        actor,
        "visa_personnummer" if show_pnr else "person",
        [(personnummer, c["id"]) for c in person["cases"]],
        "personens sida",
    )
    return render_template("person.html", p=person, show_pnr=show_pnr, instance_id=instance_id)
