"""The implementation team's pages for moving between process versions (issue 8): migration of running cases
(`/migreringar`: choose instances and a target, see the preview, give mappings, run, see results, revert) and
simulation before a pilot (`/simuleringar`). Reads and commands through engine.features.migration and
engine.features.simulation."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for

from engine.domain.errors import SamflodeError
from engine.domain.text import Text
from engine.features.migration import Migrations, Selection
from engine.features.simulation import SimulationParams
from engine.features.simulations import Simulations
from engine.reads.figures import Figures
from webui.i18n import gettext as _
from webui.labels import engine_text
from webui.shared import simulations, start_simulation
from webui.views import platform
from webui.views.auth import current_actor, current_actor_or_none, login_required

bp = Blueprint("versions", __name__)
OUTCOME_TEXT = {
    "ready": "Klar att migrera",
    "needs_mapping": "Behöver mappning",
    "blocked": "Blockerad",
    "migrated": "Migrerad",
    "failed": "Misslyckades",
    "reverted": "Återställd",
}
STATUS_TEXT = {
    "same_id": "Samma id",
    "mapped": "Mappad",
    "needs_mapping": "Behöver mappning",
    "blocked": "Blockerar",
}


def register(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _menu() -> dict[str, Any]:
        user = current_actor_or_none()
        return {"can_change_versions": user is not None and platform().policy.can_manage_pilots(user)}


def _migrations() -> Migrations:
    return platform().migrations


def _denied() -> Any:
    message = "Migrering och simulering av processversioner görs av implementeringsteamet."
    return render_template("error.html", title="Ingen behörighet", message=message), 403


def _allowed() -> bool:
    return platform().policy.can_manage_pilots(current_actor())


def _processes() -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for d in platform().reports.definitions(limit=500)["items"]:
        if d["executable"]:
            found.setdefault(d["process_id"], []).append(d)
    return found


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _choice(source: Any) -> tuple[dict[str, Any], Selection | None, dict[str, str], list[str]]:
    """The form's values, the selection they make (None until process and target are given), the mapping
    (fields map__<old id>) and what is wrong with them."""
    values = {
        k: (source.get(k) or "").strip()
        for k in ("process_id", "from_version", "target_version", "instance_ids", "kommun", "vardcentral", "avdelning")
    }
    errors: list[str] = []
    ids: list[int] = []
    for part in values["instance_ids"].replace(";", ",").replace(" ", ",").split(","):
        if part.strip():
            if part.strip().isdigit():
                ids.append(int(part.strip()))
            else:
                errors.append(Text("Instans-id %(id)r är inte ett nummer", id=part.strip()))
    mapping = {k[len("map__") :]: v.strip() for k, v in source.items() if k.startswith("map__") and v.strip()}
    target = _int(values["target_version"])
    if not values["process_id"] or target is None:
        return values, None, mapping, errors
    selection = Selection(
        process_id=values["process_id"],
        target_version=target,
        instance_ids=tuple(ids),
        from_version=_int(values["from_version"]),
        kommun=values["kommun"] or None,
        vardcentral=values["vardcentral"] or None,
        avdelning=values["avdelning"] or None,
    )
    return values, selection, mapping, errors


@bp.get("/migreringar")
@login_required
def migrations() -> Any:
    if not _allowed():
        return _denied()
    runs = _migrations().runs(current_actor())
    values, _selection, _mapping, _errors = _choice(request.args)
    return render_template(
        "migrations.html", runs=runs, processes=_processes(), values=values, outcome_text=OUTCOME_TEXT
    )


@bp.get("/migreringar/forhandsgranska")
@login_required
def preview() -> Any:
    if not _allowed():
        return _denied()
    values, selection, mapping, errors = _choice(request.args)
    result = None
    status = 200
    if selection is None:
        errors.append("Välj process och målversion")
    if not errors and selection is not None:
        try:
            result = _migrations().preview(selection, mapping, current_actor())
        except SamflodeError as exc:
            errors.append(exc.message)
            status = exc.status
    if errors and status == 200:
        status = 400
    mappable: dict[str, dict[str, Any]] = {}
    for item in (result or {}).get("items", []):
        for element in item["elements"]:
            if element["status"] in ("needs_mapping", "mapped", "blocked") and element["kind"] != "steg":
                mappable.setdefault(element["element_id"], element)
    return render_template(
        "migration_preview.html",
        values=values,
        mapping=mapping,
        preview=result,
        mappable=mappable,
        errors=errors,
        processes=_processes(),
        outcome_text=OUTCOME_TEXT,
        status_text=STATUS_TEXT,
    ), status


@bp.post("/migreringar")
@login_required
def run() -> Any:
    if not _allowed():
        return _denied()
    values, selection, mapping, errors = _choice(request.form)
    if selection is None or errors:
        flash("; ".join(engine_text(e) for e in errors) if errors else _("Välj process och målversion"), "error")
        return redirect(url_for("versions.migrations"))
    try:
        run_id = _migrations().run(selection, mapping, current_actor(), comment=request.form.get("comment", ""))
    except SamflodeError as exc:
        flash(exc.message, "error")
        params: dict[str, Any] = {**values, **{f"map__{k}": v for k, v in mapping.items()}}
        return redirect(url_for("versions.preview", **params))
    result = _migrations().get(run_id, current_actor())
    flash(
        _("Migrerade ärenden: %(migrated)s. Kunde inte migreras: %(failed)s.")
        % {"migrated": result["migrated"], "failed": result["failed"]},
        "status",
    )
    return redirect(url_for("versions.migration", run_id=run_id))


@bp.get("/migreringar/<int:run_id>")
@login_required
def migration(run_id: int) -> Any:
    if not _allowed():
        return _denied()
    try:
        result = _migrations().get(run_id, current_actor())
    except SamflodeError as exc:
        return render_template("error.html", title="Finns inte", message=exc.message), exc.status
    return render_template("migration_run.html", run=result, outcome_text=OUTCOME_TEXT)


@bp.post("/migreringar/<int:run_id>/aterstall")
@login_required
def revert(run_id: int) -> Any:
    if not _allowed():
        return _denied()
    one = _int(request.form.get("instance_id"))
    try:
        answer = _migrations().revert(run_id, current_actor(), [one] if one else None)
    except SamflodeError as exc:
        flash(exc.message, "error")
        return redirect(url_for("versions.migration", run_id=run_id))
    if answer["reverted"]:
        flash(_("Återställda till sin tidigare version: %(n)s.") % {"n": len(answer["reverted"])}, "status")
    for refused in answer["refused"]:
        flash(
            _("Instans %(id)s: %(reason)s") % {"id": refused["instance_id"], "reason": engine_text(refused["reason"])},
            "error",
        )
    if not answer["reverted"] and not answer["refused"]:
        flash(_("Det fanns inget att återställa."), "status")
    return redirect(url_for("versions.migration", run_id=run_id))


# ------------------------------------------------------------------------------------------------- simulations


def _simulations() -> Simulations:
    return simulations()


def _pairs(text: str, kind: type, what: str, errors: list[str]) -> dict[str, Any]:
    """'namn = värde' per line (or separated by commas), as typed in the form."""
    found: dict[str, Any] = {}
    for part in text.replace(",", "\n").splitlines():
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            found[key.strip()] = kind(value.strip().replace(",", "."))
        except ValueError:
            errors.append(Text("%(what)s: skriv 'namn = tal' per rad (%(part)r)", what=Text(what), part=part.strip()))
    return found


def _figure_titles() -> dict[str, tuple[str, str]]:
    return {f.id: (f.title, f.unit) for f in Figures.definitions()}


def _sim_form(source: Any) -> tuple[dict[str, str], Any, list[str]]:
    keys = (
        "process_id",
        "candidate_version",
        "baseline_version",
        "cases_per_year",
        "days",
        "sip_share",
        "seed",
        "default_hours",
        "capacity",
        "durations_hours",
    )
    values = {k: (source.get(k) or "").strip() for k in keys}
    errors: list[str] = []

    def number(key: str, kind: type, default: Any) -> Any:
        raw = values[key].replace(",", ".")
        if not raw:
            return default
        try:
            return kind(raw)
        except ValueError:
            errors.append(Text("%(label)s: %(problem)s", label=key, problem=Text("ange ett tal")))
            return default

    candidate = _int(values["candidate_version"])
    if not values["process_id"] or candidate is None:
        errors.append("Välj process och kandidatversion")
        return values, None, errors
    params = SimulationParams(
        process_id=values["process_id"],
        candidate_version=candidate,
        baseline_version=_int(values["baseline_version"]),
        cases_per_year=number("cases_per_year", float, 12644.0),
        days=number("days", int, 365),
        sip_share=number("sip_share", float, 0.37),
        seed=number("seed", int, 1),
        default_hours=number("default_hours", float, 8.0),
        capacity=_pairs(values["capacity"], int, "Personal", errors),
        durations_hours=_pairs(values["durations_hours"], float, "Handläggningstider", errors),
    )
    return values, params, errors


@bp.get("/simuleringar")
@login_required
def simulations_page() -> Any:
    if not _allowed():
        return _denied()
    values = {k: v for k, v in request.args.items()}
    return render_template(
        "simulations.html", runs=_simulations().runs(current_actor()), processes=_processes(), values=values, errors=[]
    )


@bp.post("/simuleringar")
@login_required
def simulate() -> Any:
    if not _allowed():
        return _denied()
    values, params, errors = _sim_form(request.form)
    if not errors and params is not None:
        try:
            run_id = start_simulation(params, current_actor())
            return redirect(url_for("versions.simulation", run_id=run_id))
        except SamflodeError as exc:
            errors.append(exc.message)
            for field_name, messages in (exc.details.get("fields") or {}).items():
                errors.append(f"{field_name}: {', '.join(messages)}")
    return render_template(
        "simulations.html",
        runs=_simulations().runs(current_actor()),
        processes=_processes(),
        values=values,
        errors=errors,
    ), 400


def _simulation_context(run_id: int) -> dict[str, Any]:
    run = _simulations().get(run_id, current_actor())
    versions = (run.get("result") or {}).get("versions", [])
    roles = sorted({role for v in versions for role in v.get("workload", {})})
    role_names = dict(platform().catalog.role_names)
    return {"run": run, "versions": versions, "roles": roles, "titles": _figure_titles(), "role_names": role_names}


@bp.get("/simuleringar/<int:run_id>")
@login_required
def simulation(run_id: int) -> Any:
    if not _allowed():
        return _denied()
    try:
        context = _simulation_context(run_id)
    except SamflodeError as exc:
        return render_template("error.html", title="Finns inte", message=exc.message), exc.status
    return render_template("simulation.html", **context)


@bp.get("/simuleringar/<int:run_id>/forlopp")
@login_required
def simulation_progress(run_id: int) -> Any:
    """The progress partial that htmx polls while the run is going; once done it carries the results instead."""
    if not _allowed():
        return _denied()
    try:
        context = _simulation_context(run_id)
    except SamflodeError as exc:
        return exc.message, exc.status
    return render_template("_simulation_progress.html", **context)
