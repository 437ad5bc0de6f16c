"""Routes of /api/v1/pilots (issue 8): pilots, their lifecycle, promotion, default versions and the comparison. The
implementation team changes; process owners and coordinators read (engine/features/pilots.py,
Policy.can_manage_pilots)."""

from __future__ import annotations

from flask import Response

from engine.domain.errors import ValidationFailed
from engine.domain.text import Text
from engine.features.pilots import PilotSpec
from webui.api import actor, documented, load_body, load_query
from webui.api import pilot_schemas as ps
from webui.api.routes import _json
from webui.shared import comparison, pilots, questionnaires


@documented(
    "GET", "/pilots", "Piloter, senaste start först (?process_id=)", query=ps.PilotListIn, response=ps.PilotListOut
)
def list_pilots() -> Response:
    q = load_query(ps.PilotListIn)
    items = pilots().list_pilots(actor(), q["process_id"])
    return _json(ps.PilotListOut().dump({"items": items, "total": len(items)}))


@documented(
    "POST",
    "/pilots",
    "Skapa en pilot (planerad): process och version, enheter (avdelningar och vårdcentraler som HSA-id, kommuner "
    "som namn), period och regel för blandade fall. Överlappar perioden en annan pilot för processen: 409",
    body=ps.PilotIn,
    response=ps.PilotOut,
    status=201,
    errors=(400, 401, 403, 409, 415, 422),
)
def create_pilot() -> Response:
    who = actor()
    body = load_body(ps.PilotIn)
    pilot_id = pilots().create(who, PilotSpec(**body))
    return _json(ps.PilotOut().dump(pilots().get(who, pilot_id)), 201)


@documented(
    "GET",
    "/pilots/defaults",
    "Standardversionerna för en process (?process_id=): för hela processen och per enhet efter stegvis spridning",
    query=ps.DefaultsIn,
    response=ps.DefaultsOut,
)
def pilot_defaults() -> Response:
    q = load_query(ps.DefaultsIn)
    items = pilots().defaults(actor(), q["process_id"])
    return _json(ps.DefaultsOut().dump({"process_id": q["process_id"], "items": items}))


@documented(
    "POST",
    "/pilots/defaults",
    "Gör en version till standardversion för en process, med en kommentar (implementeringsteamet eller en "
    "processägare; granskas). Att driftsätta ändrar aldrig standardversionen. Version null: den nyaste körbara "
    "versionen som den är nu. Enheternas egna standarder från spridning står kvar",
    body=ps.DefaultSetIn,
    response=ps.DefaultsOut,
    errors=(400, 401, 403, 415, 422),
)
def set_pilot_default() -> Response:
    who = actor()
    body = load_body(ps.DefaultSetIn)
    pilots().set_default(who, body["process_id"], body["version"], comment=body["comment"])
    items = pilots().defaults(who, body["process_id"])
    return _json(ps.DefaultsOut().dump({"process_id": body["process_id"], "items": items}))


@documented("GET", "/pilots/{id}", "En pilot: regel, period, enheter, antal fall, spridning", response=ps.PilotOut)
def get_pilot(id: int) -> Response:  # noqa: A002 - the path parameter's name
    return _json(ps.PilotOut().dump(pilots().get(actor(), id)))


@documented(
    "POST",
    "/pilots/{id}/status",
    "Starta, pausa, återuppta eller avsluta piloten (action). Pågående fall behåller sin version",
    body=ps.PilotStatusIn,
    response=ps.PilotOut,
    errors=(400, 401, 403, 404, 409, 415, 422),
)
def pilot_status(id: int) -> Response:  # noqa: A002
    who = actor()
    body = load_body(ps.PilotStatusIn)
    getattr(pilots(), body["action"])(who, id)
    return _json(ps.PilotOut().dump(pilots().get(who, id)))


@documented(
    "POST",
    "/pilots/{id}/extend",
    "Förläng piloten till ett senare slutdatum (409 om det skulle överlappa en annan pilot)",
    body=ps.PilotExtendIn,
    response=ps.PilotOut,
    errors=(400, 401, 403, 404, 409, 415, 422),
)
def pilot_extend(id: int) -> Response:  # noqa: A002
    who = actor()
    body = load_body(ps.PilotExtendIn)
    pilots().extend(who, id, body["end_date"])
    return _json(ps.PilotOut().dump(pilots().get(who, id)))


@documented(
    "POST",
    "/pilots/{id}/promote",
    "Sprid pilotens version: scope=whole gör den till standard för alla nya fall (piloten avslutas); scope=units "
    "ger de angivna enheterna versionen som standard (stegvis spridning, piloten fortsätter)",
    body=ps.PilotPromoteIn,
    response=ps.PilotOut,
    errors=(400, 401, 403, 404, 409, 415, 422),
)
def pilot_promote(id: int) -> Response:  # noqa: A002
    who = actor()
    body = load_body(ps.PilotPromoteIn)
    units = {k: body[k] for k in ("avdelningar", "vardcentraler", "kommuner")}
    if body["scope"] == "units" and not any(units.values()):
        raise ValidationFailed("Ange enheter att sprida till", {"fields": {"kommuner": [Text("minst en enhet")]}})
    pilots().promote(who, id, None if body["scope"] == "whole" else units)
    return _json(ps.PilotOut().dump(pilots().get(who, id)))


@documented(
    "GET",
    "/pilots/{id}/comparison",
    "Nyckeltalen sida vid sida: piloten, samma period på övriga enheter, samma enheter perioden före; antal fall, "
    "varning för för små grupper, veckoserier och Värdekompassens svar",
    response=ps.ComparisonOut,
)
def pilot_comparison(id: int) -> Response:  # noqa: A002
    return _json(ps.ComparisonOut().dump(comparison().compare(actor(), id)))


@documented(
    "POST",
    "/pilots/{id}/questionnaires",
    "Värdekompass: starta frågorna (processen vardekompass) för utskrivna ärenden i piloten och samma period på "
    "övriga enheter som inte fått dem än; svaren ingår i jämförelsen",
    response=ps.QuestionnairesSentOut,
    errors=(401, 403, 404, 409),
)
def pilot_questionnaires(id: int) -> Response:  # noqa: A002
    started = questionnaires().send(actor(), id)
    return _json(ps.QuestionnairesSentOut().dump({"started": len(started), "instance_ids": started}))
