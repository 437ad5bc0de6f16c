"""The pilot pages (Swedish): list, create, a pilot's page with its rule, period, case counts and actions, and the
side-by-side comparison with its exports. Reads and commands through engine.features.pilots; no query in a view."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from engine.domain.errors import Forbidden, NotFound, SamflodeError, ValidationFailed
from engine.features.pilot_comparison import CHART_FIGURES, table_rows
from engine.features.pilots import MIXED_RULES, PilotSpec
from engine.reads.figures import FIGURES
from engine.reads.versions import PILOT_LISTS, UNIT_KINDS, stockholm_today
from webui.i18n import gettext as _
from webui.labels import engine_text
from webui.report_charts import line_chart
from webui.report_export import definition_table, localized, to_csv, to_xlsx
from webui.shared import comparison, pilots, questionnaires
from webui.views import platform, process_names
from webui.views.auth import current_actor, login_required

bp = Blueprint("pilots", __name__)
KIND_LABELS = {"avdelning": "Avdelningar (slutenvård)", "vardcentral": "Vårdcentraler", "kommun": "Kommuner"}
FIELD_LABELS = {
    "name": "Namn",
    "description": "Beskrivning",
    "definition": "Process och version",
    "version": "Process och version",
    "start_date": "Första dag",
    "end_date": "Sista dag",
    "avdelningar": "Avdelningar",
    "vardcentraler": "Vårdcentraler",
    "kommuner": "Kommuner",
    "enheter": "Enheter",
    "mixed_rule": "Regel för blandade fall",
}
ACTIONS = {
    "starta": ("start", "Piloten har startat."),
    "pausa": ("pause", "Piloten är pausad: nya fall går till standardversionen tills den återupptas."),
    "ateruppta": ("resume", "Piloten pågår igen."),
    "avsluta": ("end", "Piloten är avslutad. Pågående fall behåller sin version."),
}


def charts(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Weekly charts of the comparison: cases, and each deadline share, pilot beside the same period elsewhere."""
    weeks = data["weeks"]["weeks"]
    names = {g["key"]: g["title"] for g in data["groups"]}
    titles = {f.id: f.title for f in FIGURES}
    out = []
    for figure_id in ("cases", *CHART_FIGURES):
        series = data["weeks"]["series"].get(figure_id) or {}
        if figure_id != "cases" and not any(v is not None for vs in series.values() for v in vs):
            continue
        title = (
            _("Fall per vecka")
            if figure_id == "cases"
            else _("%(figure)s per vecka", figure=_(titles.get(figure_id, figure_id)))
        )
        unit = "count" if figure_id == "cases" else "share"
        lines = [(names[k], series.get(k, [])) for k in ("pilot", "elsewhere")]
        out.append({"title": title, "svg": line_chart(title, weeks, lines, unit)})
    return out


def _denied(message: str = "Piloter visas för implementeringsteamet, processägare och samordnare.") -> Any:
    return render_template("error.html", title="Ingen behörighet", message=message), 403


def _versions() -> list[dict[str, Any]]:
    items = platform().reports.definitions(limit=500)["items"]
    return [d for d in items if d["executable"]]


def _form_values(form: Any) -> dict[str, Any]:
    return {
        "name": form.get("name", "").strip(),
        "description": form.get("description", "").strip(),
        "definition": form.get("definition", ""),
        "start_date": form.get("start_date", ""),
        "end_date": form.get("end_date", ""),
        "mixed_rule": form.get("mixed_rule", "any"),
        **{PILOT_LISTS[kind]: form.getlist(PILOT_LISTS[kind]) for kind in UNIT_KINDS},
        "staff_questionnaire": bool(form.get("staff_questionnaire")),
        "person_questionnaire": bool(form.get("person_questionnaire")),
    }


def _date(value: str, key: str, errors: dict[str, list[str]]) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[key] = [_("ange ett datum (ÅÅÅÅ-MM-DD)")]
        return None


def _spec(values: dict[str, Any]) -> PilotSpec:
    errors: dict[str, list[str]] = {}
    process_id, _, version = values["definition"].rpartition(":")
    if not process_id or not version.isdigit():
        errors["definition"] = ["välj process och version"]  # translated on the page (`_` is taken here)
    start = _date(values["start_date"], "start_date", errors)
    end = _date(values["end_date"], "end_date", errors)
    if errors or start is None or end is None:
        raise ValidationFailed("Piloten kan inte sparas", {"fields": errors})
    return PilotSpec(
        name=values["name"],
        description=values["description"],
        process_id=process_id,
        version=int(version),
        start_date=start,
        end_date=end,
        mixed_rule=values["mixed_rule"],
        avdelningar=values["avdelningar"],
        vardcentraler=values["vardcentraler"],
        kommuner=values["kommuner"],
        staff_questionnaire=values["staff_questionnaire"],
        person_questionnaire=values["person_questionnaire"],
    )


@bp.get("/piloter")
@login_required
def index() -> Any:
    actor = current_actor()
    try:
        items = pilots().list_pilots(actor)
    except Forbidden:
        return _denied()
    return render_template(
        "pilots.html",
        items=items,
        can_manage=platform().policy.can_manage_pilots(actor),
        can_set_default=platform().policy.can_manage_pilots(actor) or platform().policy.can_deploy(actor),
        rules=MIXED_RULES,
        defaults=pilots().default_overview(actor),
        process_names=process_names(),
    )


@bp.post("/piloter/standardversion")
@login_required
def set_default() -> Any:
    """Make a version the process-wide default (issue 15: an explicit, audited action with a comment; deploying
    never does it), by the implementation team or a process owner."""
    actor = current_actor()
    if not (platform().policy.can_manage_pilots(actor) or platform().policy.can_deploy(actor)):
        return _denied(_("Bara implementeringsteamet och processägare får välja standardversion."))
    process_id = request.form.get("process_id", "")
    chosen = request.form.get("version", "")
    comment = (request.form.get("comment") or "").strip()
    try:
        if not chosen.isdigit():
            raise ValidationFailed(_("Välj en version"), {"fields": {"version": [_("välj en version")]}})
        if not comment:
            raise ValidationFailed(
                _("Skriv en kommentar: varför blir versionen standard?"), {"fields": {"comment": [_("krävs")]}}
            )
        pilots().set_default(actor, process_id, int(chosen), comment=comment)
        flash(
            _(
                "Nya fall i %(p)s startar nu på version %(v)s där ingen pilot eller spridning gäller.",
                p=process_id,
                v=chosen,
            ),
            "ok",
        )
    except SamflodeError as exc:
        flash(exc.message, "error")
    return redirect(url_for("pilots.index"), code=303)


def _new_page(values: dict[str, Any], errors: dict[str, list[str]], message: str | None, status: int) -> Any:
    return (
        render_template(
            "pilot_new.html",
            values=values,
            errors=errors,
            message=message,
            versions=_versions(),
            rules=MIXED_RULES,
            choices=pilots().unit_choices(),
            kinds=UNIT_KINDS,
            lists=PILOT_LISTS,
            kind_labels=KIND_LABELS,
            field_labels=FIELD_LABELS,
        ),
        status,
    )


@bp.get("/piloter/ny")
@login_required
def new() -> Any:
    if not platform().policy.can_manage_pilots(current_actor()):
        return _denied("Bara implementeringsteamet får skapa piloter.")
    today = stockholm_today(platform().clock).isoformat()
    values = _form_values(request.args)
    values.update(start_date=values["start_date"] or today, end_date=values["end_date"] or "")
    return _new_page(values, {}, None, 200)


@bp.post("/piloter/ny")
@login_required
def create() -> Any:
    actor = current_actor()
    if not platform().policy.can_manage_pilots(actor):
        return _denied("Bara implementeringsteamet får skapa piloter.")
    values = _form_values(request.form)
    try:
        pilot_id = pilots().create(actor, _spec(values))
    except ValidationFailed as exc:
        errors = {k: list(v) for k, v in (exc.details.get("fields") or {}).items()}
        return _new_page(values, errors, exc.message, 400)
    except SamflodeError as exc:
        return _new_page(values, {}, exc.message, exc.status)
    flash(_("Piloten är skapad. Starta den när allt är klart."), "ok")
    return redirect(url_for("pilots.show", pilot_id=pilot_id), code=303)


@bp.get("/piloter/<int:pilot_id>")
@login_required
def show(pilot_id: int) -> Any:
    actor = current_actor()
    try:
        pilot = pilots().get(actor, pilot_id)
    except Forbidden:
        return _denied()
    except NotFound as exc:
        return render_template("error.html", title="Piloten finns inte", message=exc.message), 404
    data = comparison().compare(actor, pilot_id)
    return render_template(
        "pilot.html",
        pilot=pilot,
        can_manage=platform().policy.can_manage_pilots(actor),
        choices=pilots().unit_choices(),
        kinds=UNIT_KINDS,
        lists=PILOT_LISTS,
        kind_labels=KIND_LABELS,
        defaults=pilots().defaults(actor, pilot["process_id"]),
        comparison=data,
        charts=charts(data),
        printable=request.args.get("utskrift") == "1",
    )


@bp.get("/piloter/<int:pilot_id>/jamforelse.<any(csv, xlsx):kind>")
@login_required
def export(pilot_id: int, kind: str) -> Any:
    """The comparison for the steering group: CSV (semicolons, UTF-8 with BOM, opens in Excel) or an Excel file."""
    actor = current_actor()
    try:
        data = comparison().compare(actor, pilot_id)
    except Forbidden:
        return _denied()
    except NotFound as exc:
        return render_template("error.html", title="Piloten finns inte", message=exc.message), 404
    name = f"pilot-{pilot_id}-jamforelse-{platform().clock.now():%Y%m%d}"
    if kind == "csv":
        return Response(
            to_csv(localized(table_rows(data))),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"', "Cache-Control": "no-store"},
        )
    return Response(
        to_xlsx([(_("Jämförelse"), localized(table_rows(data))), (_("Definitioner"), definition_table())]),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"', "Cache-Control": "no-store"},
    )


def _after(pilot_id: int, run: Any, done: str | None = None) -> WerkzeugResponse:
    """Run a command and go back to the pilot's page with what happened (the command's own text, or `done`)."""
    try:
        text = run()
        flash(done or str(text), "ok")
    except SamflodeError as exc:
        fields = exc.details.get("fields") if isinstance(exc.details, dict) else None
        detail = "; ".join(", ".join(engine_text(t) for t in v) for v in fields.values()) if fields else ""
        flash(f"{engine_text(exc.message)}{': ' + detail if detail else ''}", "error")
    return redirect(url_for("pilots.show", pilot_id=pilot_id), code=303)


@bp.post("/piloter/<int:pilot_id>/<any(starta, pausa, ateruppta, avsluta):action>")
@login_required
def transition(pilot_id: int, action: str) -> Any:
    actor = current_actor()
    if not platform().policy.can_manage_pilots(actor):
        return _denied("Bara implementeringsteamet får hantera piloter.")
    method, done = ACTIONS[action]
    return _after(pilot_id, lambda: getattr(pilots(), method)(actor, pilot_id), done)


@bp.post("/piloter/<int:pilot_id>/forlang")
@login_required
def extend(pilot_id: int) -> Any:
    actor = current_actor()
    if not platform().policy.can_manage_pilots(actor):
        return _denied("Bara implementeringsteamet får hantera piloter.")

    def run() -> None:
        errors: dict[str, list[str]] = {}
        end = _date(request.form.get("end_date", ""), "end_date", errors)
        if end is None:
            raise ValidationFailed(_("Ange ett nytt slutdatum"), {"fields": errors})
        pilots().extend(actor, pilot_id, end)

    return _after(pilot_id, run, _("Piloten är förlängd."))


@bp.post("/piloter/<int:pilot_id>/sprid")
@login_required
def promote(pilot_id: int) -> Any:
    actor = current_actor()
    if not platform().policy.can_manage_pilots(actor):
        return _denied("Bara implementeringsteamet får hantera piloter.")
    whole = request.form.get("scope") == "hela"
    units = {PILOT_LISTS[kind]: request.form.getlist(PILOT_LISTS[kind]) for kind in UNIT_KINDS}
    if not whole and not any(units.values()):
        flash(_("Välj enheter att sprida till, eller sprid till hela processen."), "error")
        return redirect(url_for("pilots.show", pilot_id=pilot_id), code=303)
    done = (
        _("Pilotens version är nu standard för alla nya fall; piloten är avslutad.")
        if whole
        else _("De valda enheterna får pilotens version som standard för nya fall.")
    )
    return _after(pilot_id, lambda: pilots().promote(actor, pilot_id, None if whole else units), done)


@bp.post("/piloter/<int:pilot_id>/vardekompass")
@login_required
def send_questionnaires(pilot_id: int) -> Any:
    actor = current_actor()
    if not platform().policy.can_manage_pilots(actor):
        return _denied("Bara implementeringsteamet får hantera piloter.")

    def run() -> str:
        sent = questionnaires().send(actor, pilot_id)
        if not sent:
            return _("Inga nya utskrivna ärenden att skicka frågor för.")
        return _("Värdekompassens frågor är skickade för %(n)s utskrivna ärenden.", n=len(sent))

    return _after(pilot_id, run)
