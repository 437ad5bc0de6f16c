"""The auditor's page (Patientdatalagen 4 kap. 3 §): search the access log by person, user, unit and period, and
take out a person's loggutdrag as CSV. Only the auditor role; every search and extract is itself logged."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request

from engine.domain.errors import ValidationFailed
from engine.reads.access_log import LogQuery, LogRow, personnummer_field
from webui.labels import access_labels
from webui.views import platform, reads
from webui.views.auth import current_actor, login_required

bp = Blueprint("audit", __name__)
FIELDS = {
    "personnummer": "Personnummer",
    "username": "Användare",
    "unit": "Enhet (HSA-id)",
    "since": "Från och med",
    "until": "Till och med",
}


def _denied() -> tuple[str, int]:
    return (
        render_template(
            "error.html", title="Ingen behörighet", message="Åtkomstloggen kan bara granskas av granskare (auditor)."
        ),
        403,
    )


@bp.get("/logg")
@login_required
def search() -> Any:
    actor = current_actor()
    if not platform().policy.can_audit(actor):
        return _denied()
    values = {k: request.args.get(k, "") for k in FIELDS}
    rows: list[LogRow] | None = None
    errors: dict[str, list[str]] = {}
    message = None
    status = 200
    query = LogQuery()
    if any(v.strip() for v in values.values()):
        try:
            query = LogQuery.of(values)
            rows = reads().access_log.search(actor, query)
        except ValidationFailed as exc:
            errors = {k: list(v) for k, v in (exc.details.get("fields") or {}).items()}
            message, status = exc.message, 400
    return render_template(
        "audit.html", fields=FIELDS, values=values, rows=rows, errors=errors, message=message, query=query
    ), status


@bp.get("/logg/utdrag.csv")
@login_required
def extract() -> Any:
    actor = current_actor()
    if not platform().policy.can_audit(actor):
        return _denied()
    try:
        personnummer = personnummer_field(request.args.get("personnummer"))
    except ValidationFailed as exc:
        return render_template("error.html", title="Loggutdrag", message=exc.details["fields"]["personnummer"][0]), 400
    if personnummer is None:
        return render_template("error.html", title="Loggutdrag", message="Ange ett personnummer."), 400
    text = reads().access_log.extract(actor, personnummer, access_labels())
    name = f"loggutdrag-{personnummer.replace('-', '')}-{platform().clock.now():%Y%m%d}.csv"
    return Response(
        "\ufeff" + text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
