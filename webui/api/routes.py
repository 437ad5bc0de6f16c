"""The routes of /api/v1. Thin: authenticate, load, call the service layer or a read, dump."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response, jsonify, request

from engine.commands.runtime import DeployResult
from engine.domain.actors import Actor
from engine.domain.errors import BadRequest, Forbidden, NotFound, UnsupportedMediaType
from engine.features.pilots import Pilots
from engine.jobs.scheduler import ClockNotSimulated
from engine.persistence.models import ProcessInstance
from webui.api import actor, documented, load_body, load_query, localized_diagnostics, platform
from webui.api import schemas as s
from webui.api.modelling_schemas import DeployQueryIn
from webui.api.openapi import build_document
from webui.headers import attachment
from webui.shared import pilots

XML_TYPES = ("application/xml", "text/xml", "application/bpmn+xml", "application/octet-stream")


def _json(payload: Any, status: int = 200) -> Response:
    response = jsonify(payload)
    response.status_code = status
    return response


def instance_answer(instance_id: int, who: Actor, detail: str) -> dict[str, Any]:
    """The case after a command, as the caller may see it (engine/reads: need to know, logged); a caller who does
    not see the case (a journal system outside its organisation, a step that moved the case away) gets its number
    and status only, without patient data."""
    reads = platform().reads
    try:
        return s.InstanceOut().dump(reads.cases.view(who, instance_id, detail=detail))
    except NotFound:
        with platform().db.read() as session:
            row = session.get(ProcessInstance, instance_id)
            if row is None:
                raise
            return {
                "id": row.id,
                "process_id": row.process_id,
                "version": row.version,
                "status": row.status,
                "routing": row.routing,
                "pilot_id": row.pilot_id,
                "route_reason": row.route_reason,
            }


def _pilots() -> Pilots:
    return pilots()


def _deploy_out(result: DeployResult) -> dict[str, Any]:
    return s.DeployOut().dump(
        {
            "id": result.definition_id,
            "process_id": result.process_id,
            "version": result.version,
            "executable": result.executable,
            "created": result.created,
            "diagnostics": localized_diagnostics([d.as_dict() for d in result.diagnostics]),
            "default_version": _pilots().effective_default(result.process_id),
        }
    )


def _uploaded_bpmn() -> tuple[bytes, str | None, dict[str, Any]]:
    """The BPMN file from a multipart `file` field or the raw XML body, with its name and the options of
    DeployQueryIn (comment, filename, documentation_only) from the query or, for multipart, the form fields."""
    if request.mimetype == "multipart/form-data":
        options = load_query(DeployQueryIn, {**request.args.to_dict(), **request.form.to_dict()})
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest("Skicka BPMN-filen i fältet 'file'")
        return upload.read(), upload.filename or options["filename"], options
    if request.mimetype in XML_TYPES:
        options = load_query(DeployQueryIn)
        return request.get_data(), options["filename"], options
    raise UnsupportedMediaType("Skicka BPMN som multipart-fältet 'file' eller som XML (Content-Type: application/xml)")


@documented(
    "POST",
    "/definitions",
    "Driftsätt ett BPMN-diagram (multipart 'file' eller XML-kropp; ?comment=). Med ?documentation_only=true "
    "lagras ett diagram som inte kan köras som dokumentation (executable=false) med sina fynd i stället för 422. "
    "Flera 'file'-fält driftsätts som en mängd i valfri ordning (anrop löses inom mängden; allt eller inget): "
    "svaret är {items: [...]}",
    query=DeployQueryIn,
    response=s.DeployOut,
    status=201,
    errors=(400, 401, 403, 409, 413, 415, 422),
    content="application/xml",
)
def deploy_definition() -> Response:
    who = actor()
    uploads = request.files.getlist("file") if request.mimetype == "multipart/form-data" else []
    if len(uploads) > 1:  # a set: deployed together in dependency order, all or nothing
        options = load_query(DeployQueryIn, {**request.args.to_dict(), **request.form.to_dict()})
        results = platform().runtime.deploy_set(
            [(u.filename or None, u.read()) for u in uploads],
            who,
            comment=options["comment"],
            allow_documentation_only=options["documentation_only"],
        )
        created = any(r.created for r in results)
        return _json({"items": [_deploy_out(r) for r in results]}, 201 if created else 200)
    xml, filename, options = _uploaded_bpmn()
    result = platform().runtime.deploy(
        xml,
        who,
        comment=options["comment"],
        filename=filename,
        allow_documentation_only=options["documentation_only"],
    )
    # The modeller's draft is done with.
    platform().modeller_drafts.discard_deployed(who, result.process_id, options["draft"])
    return _json(_deploy_out(result), 201 if result.created else 200)


@documented(
    "GET",
    "/definitions",
    "Driftsatta processversioner",
    query=s.DefinitionFilterIn,
    response=s.page_of(s.DefinitionOut),
)
def list_definitions() -> Response:
    actor()
    q = load_query(s.DefinitionFilterIn)
    page = platform().reports.definitions(q["process_id"], limit=q["limit"], offset=q["offset"])
    return _json(s.dump_page(s.DefinitionOut, page))


@documented(
    "GET", "/definitions/{process_id}/versions/{n}/bpmn", "BPMN-filen för en version", content="application/xml"
)
def definition_bpmn(process_id: str, n: int) -> Response:
    actor()
    xml = platform().reports.definition_xml(process_id, n)
    return attachment(xml, f"{process_id}-v{n}.bpmn", "application/xml")


@documented(
    "POST",
    "/instances",
    "Starta en instans av senaste (eller angiven) version",
    body=s.StartInstanceIn,
    response=s.InstanceOut,
    status=201,
    errors=(400, 401, 403, 404, 409, 415, 422),
)
def start_instance() -> Response:
    who = actor()
    body = load_body(s.StartInstanceIn)
    p = platform()
    instance_id = p.runtime.start_instance(
        body["process_id"], body["business_key"], body["data"], who, version=body["version"]
    )
    return _json(instance_answer(instance_id, who, "API start"), 201)


@documented(
    "GET", "/instances/{id}", "En instans: status, uppgifter, timers, historik, incidenter", response=s.InstanceOut
)
def get_instance(id: int) -> Response:  # noqa: A002 - the path parameter's name
    who = actor()
    return _json(s.InstanceOut().dump(platform().reads.cases.view(who, id, detail="API")))


@documented(
    "POST",
    "/instances/{id}/cancel",
    "Avbryt en instans (samordnare, med skäl)",
    body=s.CancelIn,
    response=s.InstanceOut,
    errors=(400, 401, 403, 404, 409, 415, 422),
)
def cancel_instance(id: int) -> Response:  # noqa: A002
    who = actor()
    body = load_body(s.CancelIn)
    p = platform()
    p.runtime.cancel_instance(id, who, reason=body["reason"])
    return _json(instance_answer(id, who, "API avbrytande"))


@documented("GET", "/tasks", "Min arbetslista", query=s.TaskFilterIn, response=s.page_of(s.TaskOut))
def list_tasks() -> Response:
    who = actor()
    q = load_query(s.TaskFilterIn)
    page = platform().reads.tasks.api_list(
        who, limit=q["limit"], offset=q["offset"], claimed=q["claimed"], process_id=q["process_id"]
    )
    return _json(s.dump_page(s.TaskOut, page))


@documented("GET", "/tasks/{task_id}", "En uppgift", response=s.TaskOut)
def get_task(task_id: str) -> Response:
    who = actor()
    return _json(s.TaskOut().dump(platform().reads.tasks.one(who, task_id, detail="API")))


def _task_or_done(task_id: str) -> dict[str, Any] | None:
    """The task after a claim or release, if the caller still sees it (logged), else nothing."""
    try:
        return s.TaskOut().dump(platform().reads.tasks.one(actor(), task_id, detail="API"))
    except NotFound:
        return None


@documented(
    "POST",
    "/tasks/{task_id}/claim",
    "Ta uppgiften (eller lämna över till 'assignee')",
    body=s.ClaimTaskIn,
    response=s.TaskOut,
    errors=(400, 401, 403, 404, 409, 415, 422),
)
def claim_task(task_id: str) -> Response:
    who = actor()
    body = load_body(s.ClaimTaskIn) if request.content_length else {"assignee": None}
    platform().runtime.claim_task(task_id, who, assignee=body["assignee"])
    return _json(_task_or_done(task_id))


@documented(
    "POST",
    "/tasks/{task_id}/unclaim",
    "Lämna tillbaka uppgiften",
    response=s.TaskOut,
    errors=(400, 401, 403, 404, 409),
)
def unclaim_task(task_id: str) -> Response:
    who = actor()
    platform().runtime.unclaim_task(task_id, who)
    return _json(_task_or_done(task_id))


@documented(
    "POST",
    "/tasks/{task_id}/complete",
    "Slutför uppgiften med formulärets uppgifter",
    body=s.CompleteTaskIn,
    response=s.InstanceOut,
    errors=(400, 401, 403, 404, 409, 415, 422),
)
def complete_task(task_id: str) -> Response:
    who = actor()
    body = load_body(s.CompleteTaskIn)
    p = platform()
    instance_id = p.runtime.complete_task(task_id, body["data"], who)
    return _json(instance_answer(instance_id, who, "API slutförande"))


@documented(
    "POST",
    "/messages",
    "Ta emot ett BPMN-meddelande från ett annat system (startar eller fortsätter en instans)",
    body=s.MessageIn,
    response=s.MessageOut,
    status=202,
    errors=(400, 401, 403, 404, 409, 415, 422),
)
def receive_message() -> Response:
    who = actor()
    body = load_body(s.MessageIn)
    result = platform().runtime.send_message(body["name"], body["message_id"], body["correlation"], body["data"], who)
    return _json(
        s.MessageOut().dump(
            {"instance_id": result.instance_id, "outcome": result.outcome, "duplicate": result.duplicate}
        ),
        202,
    )


@documented("GET", "/clock", "Aktuell tid (och om klockan är simulerad)", response=s.ClockOut)
def get_clock() -> Response:
    actor()
    clock = platform().clock
    return _json({"now": clock.now().isoformat(), "simulated": bool(getattr(clock, "simulated", False))})


@documented(
    "POST",
    "/clock/advance",
    "Flytta den simulerade klockan framåt och utlös det som förfaller på vägen, i tidsordning (bara admin; "
    "404 när klockan är verklig)",
    body=s.ClockAdvanceIn,
    response=s.ClockAdvanceOut,
    errors=(400, 401, 403, 404, 415, 422),
)
def advance_clock() -> Response:
    who = actor()
    p = platform()
    if not getattr(p.clock, "simulated", False):
        raise NotFound("Klockan är verklig och kan inte flyttas")
    if "admin" not in who.roles:
        raise Forbidden("Bara administratörer får flytta klockan")
    body = load_body(s.ClockAdvanceIn)
    try:
        result = p.timers.advance(timedelta(seconds=body["seconds"]))
    except ClockNotSimulated as exc:
        raise NotFound(str(exc)) from exc
    return _json(
        s.ClockAdvanceOut().dump(
            {"now": result.now.isoformat(), "simulated": True, "fired": result.fired, "steps": result.steps}
        )
    )


@documented("GET", "/openapi.json", "Detta dokument", errors=())
def openapi_document() -> Response:
    return _json(build_document())
