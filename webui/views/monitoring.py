"""Monitoring for coordinators (issue 6): the instance list (`/overvakning`, htmx swaps the table), the instance
page (the diagram in bpmn-js with its markers, the timeline, timers, messages, incidents, deviations, linked cases)
with the repair actions, and the heat map of a process version.

Cases are read through engine.reads.cases (need to know applied there, and every list page, personnummer search and
instance page view written to the access log there); the heat map and the filters' choices through
engine.reads.monitoring;
changes through engine.commands.runtime. Every action needs a reason and is audited (and logged) by the runtime.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import date
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from markupsafe import escape

from engine.domain.errors import Forbidden, NotFound, SamflodeError, ValidationFailed
from engine.domain.routing import ROUTING_KEYS
from engine.domain.text import Text
from engine.reads.cases import COUNT_CAP, STATUSES, CaseList, InstanceFilter
from engine.reads.monitoring import Monitoring, period_default
from webui.headers import attachment
from webui.i18n import N_, decimal_text
from webui.i18n import gettext as _
from webui.labels import engine_text, label
from webui.views import platform, process_names, reads, worklist
from webui.views.auth import current_actor, login_required

bp = Blueprint("monitoring", __name__)
PAGE_SIZE = 50
FILTER_LABELS = {
    "process": "Process",
    "version": "Version",
    "status": "Status",
    "kommun": "Kommun",
    "avdelning": "Avdelning",
    "vardcentral": "Vårdcentral",
    "element": "Väntar i",
}


@bp.app_template_filter("duration")
def duration(seconds: float | None) -> str:
    """Seconds as a heat map shows them: minutes under an hour, hours under two days, else days (Swedish comma)."""
    if seconds is None:
        return "–"
    if seconds < 3600:
        return _("%(n)s min", n=round(seconds / 60))
    if seconds < 2 * 86400:
        return _("%(n)s tim", n=decimal_text(seconds / 3600))
    return _("%(n)s d", n=decimal_text(seconds / 86400))


def monitoring() -> Monitoring:
    return platform().monitoring


def _denied(message: str = "Sidan är till för samordnare, processägare och granskare.") -> tuple[str, int]:
    return render_template("error.html", title="Inte tillåtet", message=message), 403


def _count_text(value: int) -> str:
    if value > COUNT_CAP:
        return f"{COUNT_CAP:,}+".replace(",", "\u00a0")
    return f"{value:,}".replace(",", "\u00a0")


def _list(filters: InstanceFilter, page_number: int, errors: dict[str, list[str]] | None = None) -> Any:
    """The list with its filters; with `errors` (filters or a page that cannot be read) the errors and no list: never
    the unfiltered list in place of the one asked for."""
    actor = current_actor()
    offset = (page_number - 1) * PAGE_SIZE
    if errors:
        page = CaseList((), 0, False, PAGE_SIZE, 0)
    else:
        page = reads().cases.page(actor, filters, limit=PAGE_SIZE, offset=offset)
    template = "_instances_table.html" if request.headers.get("HX-Request") else "monitoring.html"
    return render_template(
        template,
        page=page,
        page_number=page_number,
        filters=filters,
        query=filters.as_query(),
        statuses=STATUSES,
        labels=FILTER_LABELS,
        options=monitoring().options(filters.process),
        total_text=_count_text(page.total),
        process_names=process_names(),
        errors=errors or {},
        may_search=platform().policy.can_search_instances_by_person(actor),
        may_batch=platform().policy.can_retry_incident(actor) or platform().policy.can_cancel_instance(actor),
    )


@bp.get("/overvakning")
@login_required
def index() -> Any:
    actor = current_actor()
    if not platform().policy.can_monitor(actor):
        return _denied()
    values = request.args.to_dict()
    values.pop("personnummer", None)  # never from an address: the search is a POST
    try:
        filters = InstanceFilter.of(values)
    except ValidationFailed as exc:
        return _list(InstanceFilter(), 1, exc.details.get("fields")), 400
    page = (request.args.get("sida") or "1").strip()
    if not page.isdigit() or not 0 < int(page) < 1_000_000:
        sida = Text("Sidan %(page)r finns inte: ange ett heltal från 1", page=page[:40])
        return _list(filters, 1, {"sida": [sida]}), 400
    return _list(filters, int(page))


@bp.post("/overvakning/sok")
@login_required
def search() -> Any:
    """By personnummer: POST, so that the number never stands in an address; coordinators only (need to know)."""
    actor = current_actor()
    if not platform().policy.can_search_instances_by_person(actor):
        return _denied("Bara samordnare får söka instanser på personnummer.")
    try:
        filters = InstanceFilter.of(request.form.to_dict())
    except ValidationFailed as exc:
        return _list(InstanceFilter(), 1, exc.details.get("fields")), 400
    return _list(filters, 1)


@bp.get("/overvakning/instans/<int:instance_id>")
@login_required
def instance_page(instance_id: int) -> Any:
    actor = current_actor()
    p = platform()
    if not p.policy.can_monitor(actor):
        return _denied()
    try:
        view = reads().cases.view(actor, instance_id, detail="instanssidan")
    except NotFound:
        return render_template("error.html", title=_("Instansen finns inte"), message=_("Instansen finns inte.")), 404
    by_element: dict[str, list[dict[str, Any]]] = {}
    for h in view.history:
        if h.element_id:
            by_element.setdefault(h.element_id, []).append(
                {
                    "at": h.at.isoformat(),
                    "kind": label(h.kind, "history"),
                    "actor": h.actor_name or "",
                    "changes": dict(h.changes),
                    "reason": h.reason,
                }
            )
    state = {
        "mode": "instance",
        "xml": url_for("monitoring.diagram", definition_id=view.definition_id),
        "elements": {
            k: {**asdict(e), "due_at": e.due_at.isoformat() if e.due_at else None} for k, e in view.elements.items()
        },
        "names": dict(view.element_names),
        "history": by_element,
        # The words of picking a move's target on the diagram (static/monitoring.js), in the reader's language.
        "texts": {
            "pick_start": _("Klicka på elementet token ska flyttas till (eller först på där den står)."),
            "pick_from": _("Från: «%(name)s». Klicka nu på målet.", name="{name}"),
            "not_target": _(
                "«%(name)s» kan inte vara mål: välj en aktivitet, en händelse eller en grind.", name="{name}"
            ),
            "boundary": _("«%(name)s» är en gränshändelse: välj aktiviteten den sitter på.", name="{name}"),
            "unknown": _("«%(name)s» kan inte vara mål i den här versionen av processen.", name="{name}"),
            "target": _("Mål: «%(name)s». Skriv ett skäl och tryck Flytta.", name="{name}"),
        },
    }
    policy = p.policy
    return render_template(
        "instance_monitor.html",
        v=view,
        state=state,
        can_retry=policy.can_retry_incident(actor),
        can_cancel=policy.can_cancel_instance(actor),
        can_move=policy.can_move_token(actor),
        can_fire=policy.can_fire_timer_now(actor),
        can_reassign=policy.can_reassign_task(actor),
        colleagues={t.id: _candidates(t.id) for t in view.active_tasks} if policy.can_reassign_task(actor) else {},
        can_change_units=policy.can_manage_instances(actor),
        open=view.status not in ("completed", "cancelled"),
        retry_fields=retry_fields(dict(view.data), view.incidents) if view.status == "incident" else [],
        unit_options=monitoring().options() if policy.can_manage_instances(actor) else {},
        process_names=process_names(),
    )


# What went wrong, in words (issue 15): the engine's technical message stays beside it for whoever needs it.
INCIDENT_KINDS = (
    ("No conditions satisfied", N_("Inget av grindens villkor var sant, och grinden har ingen standardväg.")),
    ("NameError", N_("Uttrycket använder ett namn som inte finns i ärendets uppgifter.")),
    ("ZeroDivisionError", N_("Uttrycket delar med noll.")),
    ("TypeError", N_("Ett värde har fel typ för uttrycket (till exempel text där det ska vara ett tal).")),
    ("KeyError", N_("Uttrycket läser en nyckel som inte finns.")),
    ("kunde inte utlösas", N_("Timern kunde inte utlösas.")),
    ("för många steg", N_("Skriptet tog för många steg och stoppades.")),
    ("för lång tid", N_("Skriptet tog för lång tid och stoppades.")),
)


@bp.app_template_filter("incident_summary")
def incident_summary(message: str) -> str:
    for needle, text in INCIDENT_KINDS:
        if needle in (message or ""):
            return _(text)
    return _("Steget kunde inte utföras.")


def _candidates(task_id: str) -> list[tuple[str, str]]:
    """Who a coordinator may give the task to: its role, in its unit unless it has none."""
    try:
        return worklist().assignees(task_id)
    except NotFound:
        return []


@bp.get("/overvakning/diagram/<int:definition_id>.bpmn")
@login_required
def diagram(definition_id: int) -> Any:
    try:
        xml = monitoring().diagram(current_actor(), definition_id)
    except Forbidden:
        return _denied()
    except NotFound:
        return Response(_("Finns inte"), status=404)
    return attachment(xml, f"diagram-{definition_id}.bpmn", "application/xml")


# --- actions --------------------------------------------------------------------------------------------------------
def _done(instance_id: int, ok: str | None, error: str | None) -> Any:
    """htmx: reload the instance page on success (HX-Redirect), or put the error beside the form; without
    JavaScript: flash and redirect (303)."""
    target = url_for("monitoring.instance_page", instance_id=instance_id)
    if request.headers.get("HX-Request"):
        if error is None:
            flash(ok or _("Klart."), "ok")
            return Response("", status=204, headers={"HX-Redirect": target})
        return f'<p class="flash error" role="alert">{escape(engine_text(error))}</p>'
    if error is None:
        flash(ok or _("Klart."), "ok")
    else:
        flash(error, "error")
    return redirect(target, code=303)


def _explain(exc: SamflodeError) -> str:
    fields = (exc.details or {}).get("fields") if isinstance(exc.details, dict) else None
    if fields:
        first = next(iter(fields.values()))
        detail = first[0] if isinstance(first, list) and first else first
        if detail and str(detail) not in exc.message:
            return f"{engine_text(exc.message)}: {engine_text(detail)}"
    return engine_text(exc.message)


def _act(instance_id: int, run: Any, ok: str) -> Any:
    actor = current_actor()
    if not platform().policy.can_monitor(actor):
        return _denied()
    try:
        run(actor)
    except SamflodeError as exc:
        if isinstance(exc, Forbidden) and not request.headers.get("HX-Request"):
            return _denied(exc.message)
        return _done(instance_id, None, _explain(exc))
    return _done(instance_id, ok, None)


def _reason() -> str:
    return request.form.get("reason", "")


MAX_RETRY_FIELDS = 40
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")
_DECIMAL = re.compile(r"^[+-]?\d{1,18}[.,]\d{1,12}$")


def _field_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict | list):
        return "json"
    return "text"


def _field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if isinstance(value, float):
        return str(value).replace(".", ",")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def retry_fields(data: dict[str, Any], incidents: Any) -> list[dict[str, Any]]:
    """The retry form (issue 15: a form of the case's fields, not raw JSON): first the names the failing expression
    read (also those that were missing), then the case's other fields. Routing data (person, stay, units,
    agreement) is not here: it changes only by the journal or an audited change of units (convention 14)."""
    order: list[str] = []
    missing: set[str] = set()
    for incident in incidents:
        if incident.resolved_at is None:
            for name, seen in (incident.seen_values or {}).items():
                if name not in order:
                    order.append(name)
                if isinstance(seen, dict) and seen.get("missing") and name not in data:
                    missing.add(name)
    used = set(order)
    order += sorted(k for k in data if k not in used)
    fields: list[dict[str, Any]] = []
    for key in order:
        if key in ROUTING_KEYS or key.startswith("_") or len(fields) >= MAX_RETRY_FIELDS:
            continue
        value = data.get(key)
        fields.append(
            {
                "key": key,
                "kind": _field_kind(value) if key not in missing else "auto",
                "text": _field_text(value),
                "read": key in used,
                "missing": key in missing,
            }
        )
    return fields


def _parse_field(key: str, kind: str, text: str, problems: dict[str, list[str]]) -> Any:
    text = text.strip()
    if kind == "auto":
        if _INTEGER.match(text) or _DECIMAL.match(text):
            kind = "number"
        elif text.lower() in ("ja", "nej", "true", "false"):
            kind = "bool"
        else:
            kind = "text"
    if kind == "number":
        if _INTEGER.match(text):
            return int(text)
        if _DECIMAL.match(text):
            return float(text.replace(",", "."))
        problems[key] = [_("Ange ett tal, till exempel 3 eller 2,5")]
    elif kind == "bool":
        if text.lower() in ("ja", "true"):
            return True
        if text.lower() in ("nej", "false"):
            return False
        problems[key] = [_("Välj ja eller nej")]
    elif kind == "json":
        try:
            return json.loads(text)
        except ValueError:
            problems[key] = [_("Skriv en lista eller ett objekt i JSON, som fältet hade")]
    else:
        return text
    return None


def retry_data(form: Any) -> dict[str, Any]:
    """The changed fields of the retry form as case data (a field left as it was is not sent). A value that does
    not fit its field's kind is refused with the field named; nothing is retried then."""
    data: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for name in form:
        if not name.startswith("falt-"):
            continue
        key = name[len("falt-") :]
        if not key or key in ROUTING_KEYS:
            continue
        text = form.get(name, "")
        if text == form.get(f"orig-{key}", "") and form.get(f"typ-{key}") != "auto":
            continue
        if text.strip() == "" and form.get(f"typ-{key}") == "auto":
            continue  # a missing name left empty: still missing
        value = _parse_field(key, form.get(f"typ-{key}", "text"), text, problems)
        if key not in problems:
            data[key] = value
    if problems:
        first_key, first = next(iter(problems.items()))
        raise ValidationFailed(_("Fältet %(f)s: %(m)s", f=first_key, m=first[0]), {"fields": problems})
    return data


@bp.post("/overvakning/instans/<int:instance_id>/forsok-igen")
@login_required
def retry(instance_id: int) -> Any:
    def run(actor: Any) -> None:
        platform().runtime.retry_instance(instance_id, actor, data=retry_data(request.form), reason=_reason())

    return _act(instance_id, run, _("Instansen försökte igen."))


@bp.post("/overvakning/instans/<int:instance_id>/avbryt")
@login_required
def cancel(instance_id: int) -> Any:
    return _act(
        instance_id,
        lambda actor: platform().runtime.cancel_instance(instance_id, actor, reason=_reason()),
        _("Instansen är avbruten."),
    )


@bp.post("/overvakning/instans/<int:instance_id>/flytta")
@login_required
def move(instance_id: int) -> Any:
    source = request.form.get("from_element", "")
    target = request.form.get("to_element", "")
    names = monitoring().element_names_of_instance(instance_id)
    return _act(
        instance_id,
        lambda actor: platform().runtime.move_token(instance_id, source, target, actor, reason=_reason()),
        _("Token flyttad från %(a)s till %(b)s.", a=names.get(source, source), b=names.get(target, target)),
    )


@bp.post("/overvakning/instans/<int:instance_id>/timer/<int:timer_id>/utlos")
@login_required
def fire_timer(instance_id: int, timer_id: int) -> Any:
    return _act(
        instance_id,
        lambda actor: platform().runtime.fire_timer_now(instance_id, timer_id, actor, reason=_reason()),
        _("Timern är utlöst."),
    )


@bp.post("/overvakning/instans/<int:instance_id>/uppgift/<task_id>/fordela")
@login_required
def reassign(instance_id: int, task_id: str) -> Any:
    assignee = request.form.get("assignee", "")
    return _act(
        instance_id,
        lambda actor: platform().runtime.reassign_task(task_id, assignee, actor, reason=_reason()),
        _("Uppgiften är fördelad till %(name)s.", name=assignee),
    )


@bp.post("/overvakning/instans/<int:instance_id>/enheter")
@login_required
def change_units(instance_id: int) -> Any:
    """A coordinator corrects the case's kommun, vårdcentral or ward (the journal got it wrong), with a reason."""
    changes = {
        key: value.strip()
        for key in ("kommun", "vardcentral_hsa_id", "avdelning_hsa_id")
        if (value := request.form.get(key) or "").strip()
    }
    return _act(
        instance_id,
        lambda actor: platform().runtime.change_routing(instance_id, changes, actor, reason=_reason()),
        _("Ärendets enheter är ändrade."),
    )


# --- batch actions over a filter (issue 15) -----------------------------------------------------------------------
BATCH_MAX = 500
BATCH_ACTIONS = {
    # action -> (the statuses it applies to, what it is called, the policy check)
    "forsok-igen": (("incident",), N_("Försök igen"), "can_retry_incident"),
    "avbryt": (("running", "waiting", "incident"), N_("Avbryt"), "can_cancel_instance"),
}


def _batch_request() -> tuple[str, InstanceFilter, tuple[str, ...]]:
    action = request.form.get("action", "")
    if action not in BATCH_ACTIONS:
        raise ValidationFailed(_("Välj en åtgärd"), {"fields": {"action": [_("välj försök igen eller avbryt")]}})
    values = {k: v for k, v in request.form.items() if k not in ("csrf_token", "action", "reason", "expected")}
    values.pop("personnummer", None)
    return action, InstanceFilter.of(values), BATCH_ACTIONS[action][0]


def _batch_page(action: str, filters: InstanceFilter, **context: Any) -> Any:
    return render_template(
        "batch_action.html",
        action=action,
        action_label=_(BATCH_ACTIONS[action][1]),
        filters=filters,
        query=filters.as_query(),
        batch_max=BATCH_MAX,
        **context,
    )


def _batch_allowed(action: str) -> bool:
    policy = platform().policy
    return bool(getattr(policy, BATCH_ACTIONS[action][2])(current_actor()))


@bp.post("/overvakning/massatgard")
@login_required
def batch_preview() -> Any:
    """Step 1: how many cases the filter gives for the action (those the coordinator may see and the action
    applies to), the first of them, and a form to confirm with a reason. Nothing is changed."""
    if not platform().policy.can_monitor(current_actor()):
        return _denied()
    try:
        action, filters, statuses = _batch_request()
    except ValidationFailed as exc:
        flash(_explain(exc), "error")
        return redirect(url_for("monitoring.index"), code=303)
    if not _batch_allowed(action):
        return _denied(_("Bara samordnare får göra massåtgärder."))
    ids, total = reads().cases.matching_ids(current_actor(), filters, statuses, BATCH_MAX)
    return _batch_page(action, filters, ids=ids, total=total, too_many=total > BATCH_MAX, results=None)


@bp.post("/overvakning/massatgard/utfor")
@login_required
def batch_run() -> Any:
    """Step 2: the confirmed action on each case the filter gives now, one command per case (each audited with the
    reason and in the access log), if the count is still what the coordinator confirmed."""
    actor = current_actor()
    if not platform().policy.can_monitor(actor):
        return _denied()
    try:
        action, filters, statuses = _batch_request()
    except ValidationFailed as exc:
        flash(_explain(exc), "error")
        return redirect(url_for("monitoring.index"), code=303)
    if not _batch_allowed(action):
        return _denied(_("Bara samordnare får göra massåtgärder."))
    ids, total = reads().cases.matching_ids(actor, filters, statuses, BATCH_MAX)
    expected = request.form.get("expected", "")
    reason = _reason().strip()
    problem = None
    if total > BATCH_MAX:
        problem = _("Filtret ger %(n)s ärenden; högst %(m)s åt gången. Snäva in filtret.", n=total, m=BATCH_MAX)
    elif expected != str(total):
        problem = _("Antalet har ändrats sedan förhandsgranskningen (nu %(n)s); bekräfta igen.", n=total)
    elif not reason:
        problem = _("Skriv ett skäl: det sparas på varje ärende.")
    if problem:
        return _batch_page(
            action, filters, ids=ids, total=total, too_many=total > BATCH_MAX, results=None, problem=problem
        ), 409
    runtime = platform().runtime
    done: list[int] = []
    failed: list[tuple[int, str]] = []
    for instance_id in ids:
        try:
            if action == "forsok-igen":
                runtime.retry_instance(instance_id, actor, data={}, reason=reason)
            else:
                runtime.cancel_instance(instance_id, actor, reason=reason)
            done.append(instance_id)
        except SamflodeError as exc:
            failed.append((instance_id, _explain(exc)))
    return _batch_page(action, filters, ids=ids, total=total, too_many=False, results={"done": done, "failed": failed})


# --- the heat map ---------------------------------------------------------------------------------------------------
@bp.get("/overvakning/process/<process_id>/varmekarta")
@login_required
def heatmap(process_id: str) -> Any:
    actor = current_actor()
    if not platform().policy.can_view_heatmap(actor):
        return _denied("Värmekartan är till för samordnare, processägare och granskare.")
    errors: dict[str, list[str]] = {}
    version_text = (request.args.get("version") or "").strip()
    version = int(version_text) if version_text.isdigit() else None
    if version_text and version is None:
        errors["version"] = [_("Versionen är ett heltal.")]
    since, until = period_default(platform().clock)
    for key in ("fran", "till"):
        text = (request.args.get(key) or "").strip()
        if text:
            try:
                value = date.fromisoformat(text)
            except ValueError:
                errors[key] = [_("Skriv datumet som ÅÅÅÅ-MM-DD.")]
                continue
            if key == "fran":
                since = value
            else:
                until = value
    if since > until:
        errors["till"] = [_("Slutdatumet ligger före startdatumet.")]
    try:
        definition_id, version, name = monitoring().definition_id(process_id, version)
    except NotFound:
        return render_template("error.html", title="Processen finns inte", message="Processen finns inte."), 404
    figures = (
        monitoring().heatmap(actor, process_id, version, since, until)
        if not errors
        else {"elements": [], "since": since.isoformat(), "until": until.isoformat()}
    )
    names = monitoring().instance_names(definition_id)
    state = {
        "mode": "heatmap",
        "xml": url_for("monitoring.diagram", definition_id=definition_id),
        "figures": figures["elements"],
        "names": names,
    }
    versions = [v for p, v in _versions() if p == process_id]
    return render_template(
        "heatmap.html",
        process_id=process_id,
        name=name,
        version=version,
        versions=versions,
        since=since,
        until=until,
        figures=figures["elements"],
        names=names,
        state=state,
        errors=errors,
    ), (400 if errors else 200)


def _versions() -> list[tuple[str, int]]:
    return monitoring().versions()
