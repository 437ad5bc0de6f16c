"""Issue 6 in the API: the instance list with the monitoring filters, the repairs of an instance (each with a
reason, audited, permitted by Policy) and the heat map of a process version. Thin, like routes.py: load, call the
service layer or a read, dump."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response, jsonify

from engine.domain.errors import NotFound, ValidationFailed
from engine.domain.text import Text
from engine.reads.cases import InstanceFilter
from engine.reads.monitoring import Monitoring, period_default
from webui.api import actor, documented, load_body, load_query, platform
from webui.api import schemas as s
from webui.api.routes import instance_answer


def _json(payload: Any, status: int = 200) -> Response:
    response = jsonify(payload)
    response.status_code = status
    return response


def _monitoring() -> Monitoring:
    return platform().monitoring


def _instance(instance_id: int) -> dict[str, Any]:
    return instance_answer(instance_id, actor(), "API reparation")


@documented(
    "GET",
    "/instances",
    "Instanser (samordnare, processägare, granskare, system), nyast först. Filter: process, version, status, "
    "kommun, vårdcentral, avdelning, försenade (en öppen uppgift eller timer efter sin tid), startade mellan två "
    "datum (svensk tid, till och med), elementet ärendet väntar i (waiting_in), personnummer (samordnare och "
    "system; loggas). 'total' slutar räkna vid 1 001",
    query=s.InstanceFilterIn,
    response=s.page_of(s.InstanceListItemOut),
)
def list_instances() -> Response:
    who = actor()
    q = load_query(s.InstanceFilterIn)
    values = {
        "process": q["process_id"],
        "version": q["version"],
        "status": q["status"],
        "business_key": q["business_key"],
        "personnummer": q["personnummer"],
        "kommun": q["kommun"],
        "vardcentral": q["vardcentral"],
        "avdelning": q["avdelning"],
        "overdue": "1" if q["overdue"] else "",
        "started_from": q["started_from"].isoformat() if q["started_from"] else "",
        "started_to": q["started_to"].isoformat() if q["started_to"] else "",
        "waiting_in": q["waiting_in"],
    }
    filters = InstanceFilter.of({k: v for k, v in values.items() if v not in (None, "")})
    page = platform().reads.cases.page(who, filters, limit=q["limit"], offset=q["offset"], channel="API")
    return _json(s.dump_page(s.InstanceListItemOut, page))


@documented(
    "POST",
    "/instances/{id}/retry",
    "Försök igen efter en incident, med rättade uppgifter och ett skäl (samordnare; granskningsloggas)",
    body=s.RetryIn,
    response=s.InstanceOut,
    errors=(400, 401, 403, 404, 409, 415, 422),
)
def retry_instance(id: int) -> Response:  # noqa: A002 - the path parameter's name
    who = actor()
    body = load_body(s.RetryIn)
    platform().runtime.retry_instance(id, who, data=body["data"], reason=body["reason"])
    return _json(_instance(id))


@documented(
    "POST",
    "/instances/{id}/move-token",
    "Flytta en token från ett element till ett annat (reparation, samordnare, med skäl). Framåt hoppas stegen "
    "emellan över, bakåt görs målet om; 409 med förklaring när flytten inte kan göras säkert",
    body=s.MoveTokenIn,
    response=s.TokenMoveOut,
    errors=(400, 401, 403, 404, 409, 415, 422),
)
def move_token(id: int) -> Response:  # noqa: A002
    who = actor()
    body = load_body(s.MoveTokenIn)
    moved = platform().runtime.move_token(id, body["from_element"], body["to_element"], who, reason=body["reason"])
    # The instance is dumped already (as the caller may see it); the move's own fields beside it.
    return _json({"direction": moved.direction, "skipped": list(moved.skipped), "instance": _instance(id)})


@documented(
    "POST",
    "/instances/{id}/timers/{timer_id}/fire",
    "Utlös en väntande timer nu (samordnare, med skäl)",
    body=s.ReasonIn,
    response=s.InstanceOut,
    errors=(400, 401, 403, 404, 409, 415, 422),
)
def fire_timer_now(id: int, timer_id: str) -> Response:  # noqa: A002
    who = actor()
    if not timer_id.isdigit():
        raise NotFound("Timern finns inte")
    body = load_body(s.ReasonIn)
    platform().runtime.fire_timer_now(id, int(timer_id), who, reason=body["reason"])
    return _json(_instance(id))


@documented(
    "POST",
    "/tasks/{task_id}/reassign",
    "Fördela om en uppgift till en namngiven användare med uppgiftens roll och enhet (samordnare, med skäl)",
    body=s.ReassignTaskIn,
    response=s.TaskOut,
    errors=(400, 401, 403, 404, 409, 415, 422),
)
def reassign_task(task_id: str) -> Response:
    who = actor()
    body = load_body(s.ReassignTaskIn)
    p = platform()
    p.runtime.reassign_task(task_id, body["assignee"], who, reason=body["reason"])
    return _json(s.TaskOut().dump(p.reads.tasks.one(who, task_id, detail="API omfördelning")))


@documented(
    "GET",
    "/definitions/{process_id}/versions/{n}/heatmap",
    "Värmekarta för en processversion: per element antal utförda och medel och p90 av tid i steget och väntan innan "
    "det togs (sekunder), för steg slutförda mellan started_from och started_to (hela dygn, svensk tid)",
    query=s.HeatmapQueryIn,
    response=s.HeatmapOut,
)
def heatmap(process_id: str, n: int) -> Response:
    who = actor()
    q = load_query(s.HeatmapQueryIn)
    since, until = period_default(platform().clock)
    until = q["started_to"] or until
    since = q["started_from"] or (until - timedelta(days=29))
    if since > until:
        raise ValidationFailed("Slutdatumet ligger före startdatumet", {"fields": {"started_to": [Text("före från")]}})
    monitoring = _monitoring()
    monitoring.definition_id(process_id, n)  # 404 for an unknown version
    return _json(s.HeatmapOut().dump(monitoring.heatmap(who, process_id, n, since, until)))
